"""`make up`: broker, model, worker, API and producer on one machine, stopped cleanly by Ctrl-C.

The screen says what runs and on what: the source (synthetic prices said so), the model
served and what it was trained on, the lines to paste in another shell; then bars while it
trains and replays, one line per forecast or alert in date order, and one line once every
published close has been answered. Library lines stay out of it unless --verbose.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING

from core import kafka as bus
from core.config import Settings
from core.errors import UnavailableError
from core.processes import die_with_parent, interrupt_on_signals, stop
from producers.errors import SourceUnavailable
from producers.sources import PriceData, load_prices, parse_source
from streams.broker import EmbeddedBroker
from tickcast.replay import replay
from tickcast.screen import SYNTHETIC_NOTE, Screen, TrainingBar

if TYPE_CHECKING:
    from model.serving import ServingChoice

YAHOO_FALLBACK = (
    "Yahoo Finance is unreachable from here (no internet?): using synthetic prices; for real "
    "prices use --source csv:../shared/data or see README"
)


@dataclass(frozen=True)
class UpOptions:
    """What `tickcast up` was asked for; `api_port` is a port already found free."""

    source: str
    tickers: list[str]
    start: date | None = None
    end: date | None = None
    rate: float | None = None
    retrain: bool = True
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    verbose: bool = False


class ChildExited(UnavailableError):
    """A child process `up` depends on stopped: `up` never runs on without it."""


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def held_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done, then arrive as usual."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def child_setup() -> None:
    """In the child before exec: it hears SIGINT and SIGTERM again (the mask is inherited),
    and dies with its parent."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    die_with_parent()


@dataclass
class Children:
    """Child processes, stopped in reverse order of start; their lines go through `relay`, so
    they print above the progress bars, cleaned of terminal codes."""

    relay: Callable[[str, str], None]
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        # Its own process group: Ctrl-C reaches only tickcast, which stops children in order.
        # Ctrl-C is held while forking: its KeyboardInterrupt would land in an at-fork hook,
        # where Python ignores exceptions, and `up` would run on.
        with held_signals():
            process = subprocess.Popen(
                args,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                preexec_fn=child_setup,
                process_group=0,
            )
        assert process.stdout is not None
        threading.Thread(target=self._relay, args=(name, process.stdout), daemon=True).start()
        self.processes.append((name, process))
        return process

    def adopt(self, name: str, process: subprocess.Popen) -> None:
        """A child started elsewhere (the broker, which writes its own log file)."""
        self.processes.append((name, process))

    def _relay(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.relay(name, line)

    def check(self) -> None:
        """One line and a stop as soon as any child has exited."""
        for name, process in self.processes:
            code = process.poll()
            if code is not None:
                raise ChildExited(
                    f"the {name} stopped (exit code {code}); its last lines are above. "
                    "Stopping everything"
                )

    def stop(self, timeout_s: float = 15.0) -> None:
        """Last started, first stopped: the worker leaves its group while the broker still runs."""
        for name, process in reversed(self.processes):
            stop(process, timeout_s, name)


def load_or_fallback(settings: Settings, options: UpOptions, screen: Screen) -> PriceData:
    """Prices from the source; when Yahoo is out of reach, say so in one line and use
    synthetic prices."""
    try:
        return load_prices(
            options.source, options.tickers, settings.data, options.start, options.end
        )
    except SourceUnavailable as exc:
        screen.warn(YAHOO_FALLBACK)
        if options.verbose:
            screen.plain(str(exc))
        return load_prices("synthetic", options.tickers, settings.data, options.start, options.end)


def show_source(screen: Screen, data: PriceData) -> None:
    kind = "[bold yellow]" + SYNTHETIC_NOTE + "[/bold yellow]" if data.synthetic else "real prices"
    screen.say(f"source     {data.source}: {kind}")
    frames = data.frames.values()
    closes = sum(len(frame) for frame in frames)
    first = min(frame["date"].iloc[0] for frame in frames if len(frame)).date()
    last = max(frame["date"].iloc[-1] for frame in frames if len(frame)).date()
    screen.plain(f"tickers    {', '.join(data.frames)}: {closes} closes, {first}..{last}")


def serve(settings: Settings, data: PriceData, retrain: bool, screen: Screen) -> ServingChoice:
    """The model the worker and API serve: choose_model trains one when none fits these
    prices, saying why, with a bar of its epochs."""
    from model.serving import choose_model  # torch: after the fast checks

    bar = TrainingBar(screen, settings.model.max_epochs)
    try:
        choice = choose_model(
            settings, data, retrain=retrain, say=bar.say, progress=False, on_epoch=bar.on_epoch
        )
    finally:
        bar.close()
    if choice.warning:
        screen.warn(f"model      {choice.line}")
    else:
        screen.plain(f"model      {choice.line}")
    if choice.trained:
        seen = choice.trained_on.describe() if choice.trained_on else "not recorded"
        screen.plain(f"           trained on {seen}")
    return choice


def tickcast_command() -> str:
    """How to run tickcast from another shell in this folder: `tickcast` when it is on the
    PATH as this very install, else the path of this venv's script."""
    script = Path(sys.executable).parent / "tickcast"
    found = shutil.which("tickcast")
    if found and Path(found).resolve() == script.resolve():
        return "tickcast"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def start_bus(settings: Settings, children: Children) -> Settings:
    """The embedded broker unless one is configured (then checked to answer); the topics."""
    bootstrap = settings.kafka.bootstrap_servers
    if not bootstrap:
        settings.data.dir.mkdir(parents=True, exist_ok=True)
        broker = EmbeddedBroker(
            port=settings.kafka.embedded_port, log_path=settings.data.dir / "broker.log"
        ).start()
        assert broker.process is not None
        children.adopt("broker", broker.process)
        bootstrap = broker.bootstrap
    else:
        asyncio.run(bus.check_reachable(settings.kafka))  # one line, not a traceback
    settings = settings.with_kafka(bootstrap_servers=bootstrap)
    asyncio.run(bus.ensure_topics(settings.kafka))
    return settings


def show_addresses(
    screen: Screen, settings: Settings, options: UpOptions, token: str, embedded: bool
) -> None:
    bootstrap = settings.kafka.bootstrap_servers
    what = "embedded (Tansu, memory only)" if embedded else "Kafka"
    screen.plain(f"broker     {what} on {bootstrap}")
    base = f"http://{options.api_host}:{options.api_port}"
    screen.plain(f"API        {base}  (docs {base}/docs)")
    screen.plain(f"dashboard  {base}/dashboard")
    if token:
        screen.plain(f"token      {token}  (this run's API token: Authorization: Bearer ...)")
    else:
        screen.plain("token      $TICKCAST_API__TOKEN  (Authorization: Bearer ...)")
    screen.plain("in another shell, to follow the forecasts:")
    screen.plain(f"  export KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
    screen.plain(f"  {tickcast_command()} tail forecasts")


def train_data_env(source: str, env: dict[str, str]) -> dict[str, str]:
    """`--source csv:DIR` lets the API's POST /train read CSV files in DIR (for a file, its
    folder), unless TICKCAST_API__TRAIN_DATA_DIR is set already."""
    spec = parse_source(source)
    if spec.kind != "csv" or spec.path is None or "TICKCAST_API__TRAIN_DATA_DIR" in env:
        return {}
    path = spec.path.resolve()
    return {"TICKCAST_API__TRAIN_DATA_DIR": str(path if path.is_dir() else path.parent)}


def start_services(
    children: Children, settings: Settings, options: UpOptions, choice: ServingChoice
) -> str:
    """The worker and the API, serving `choice.ref`; returns the API token made for this run
    ("" when TICKCAST_API__TOKEN is set)."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "TICKCAST_MLFLOW__SERVE": choice.ref,
        "PYTHONUNBUFFERED": "1",  # their lines reach the screen as they are written
    }
    verbose = ["--verbose"] if options.verbose else []
    children.start("worker", [sys.executable, "-m", "tickcast", "worker", *verbose], env)
    made = "" if env.get("TICKCAST_API__TOKEN") else secrets.token_urlsafe(24)
    api_env = {**env, **train_data_env(options.source, env)}
    if made:
        api_env["TICKCAST_API__TOKEN"] = made
    address = ["--api-host", options.api_host, "--api-port", str(options.api_port)]
    children.start("API", [sys.executable, "-m", "tickcast", "api", *address, *verbose], api_env)
    return made


def up(settings: Settings, options: UpOptions, screen: Screen) -> None:
    """Run the whole pipeline until Ctrl-C or SIGTERM, or until a child stops; every child
    process stops with it."""
    children = Children(screen.child_line)
    try:
        with interrupt_on_signals():
            embedded = not settings.kafka.bootstrap_servers
            settings = start_bus(settings, children)
            data = load_or_fallback(settings, options, screen)
            show_source(screen, data)
            choice = serve(settings, data, options.retrain, screen)
            token = start_services(children, settings, options, choice)
            show_addresses(screen, settings, options, token, embedded)
            asyncio.run(replay(settings, data, options.rate, children, screen))
    except KeyboardInterrupt:
        screen.plain("stopping...")
    finally:
        children.stop()
        screen.plain("all stopped")
