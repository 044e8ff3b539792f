"""What `tickcast up` prints: the banner, the progress bars, the ordered forecast lines and
the summary, on one console, so that child lines and bars never tear each other apart."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from streams.tail import render

SYNTHETIC_NOTE = "SYNTHETIC prices: invented, not a market"
# Terminal control sequences a child may write (Faust's spinner shows the cursor with one).
CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")


def clean(line: str) -> str:
    """A child's line without escape codes, backspaces or carriage returns."""
    return CONTROL.sub("", line).rstrip()


@dataclass
class Screen:
    """One console (stderr) for every line of `up`; bars are transient and live below them."""

    console: Console

    def say(self, text: str) -> None:
        """One line with rich markup, never wrapped."""
        self.console.print(text, highlight=False, soft_wrap=True)

    def plain(self, text: str) -> None:
        self.say(escape(text))

    def warn(self, text: str) -> None:
        self.say(f"[yellow]{escape(text)}[/yellow]")

    def child_line(self, name: str, line: str) -> None:
        """A line a child process wrote, cleaned of control codes; blank ones are dropped."""
        text = clean(line)
        if text:
            self.say(f"[dim]{name}:[/dim] {escape(text)}")

    def message(self, kind: str, message: dict) -> None:
        """A forecast or an alert, as `tickcast tail` renders it."""
        text = escape(render(kind, message))
        if kind == "drift-alerts":
            text = f"[bold red]{text}[/bold red]"
        elif message.get("synthetic"):
            tag = escape("[synthetic]")
            text = text.replace(tag, f"[yellow]{tag}[/yellow]")
        self.say(text)

    @contextmanager
    def progress(self, label: str, total: int | None, unit: str) -> Iterator[Progress]:
        """A transient bar (drawn only on a terminal) with one task, `label`."""
        bar = Progress(
            SpinnerColumn(),
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,  # a log file gets the lines, not the frames
        )
        bar.add_task(label, total=total, note="")
        with bar:
            yield bar


@dataclass
class TrainingBar:
    """choose_model's `say` and `on_epoch`: the line saying why it trains, then a bar of the
    epochs (early stopping may end it before `max_epochs`)."""

    screen: Screen
    max_epochs: int
    bar: Progress | None = None
    task: TaskID | None = None

    def say(self, text: str) -> None:
        self.screen.plain(text)
        if self.bar is None:
            self.bar = Progress(
                SpinnerColumn(),
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("epochs {task.fields[loss]}"),
                TimeElapsedColumn(),
                console=self.screen.console,
                transient=True,
                disable=not self.screen.console.is_terminal,
            )
            self.task = self.bar.add_task("training", total=self.max_epochs, loss="")
            self.bar.start()

    def on_epoch(self, epoch: int, losses: dict[str, float]) -> None:
        if self.bar is None or self.task is None:
            return
        loss = losses.get("val_loss", math.nan)
        self.bar.update(self.task, completed=epoch, loss=f"val_loss {loss:.4g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
