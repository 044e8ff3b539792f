"""`make up`: broker, model, worker, API and producer on one machine, stopped cleanly by Ctrl-C.

The screen says what runs and on what: the source (synthetic prices said so), the model
served and what it was trained on, the lines to paste in another shell; then bars while it
trains and replays, one line per forecast or alert in date order, and one line once every
published close has been answered. Library lines stay out of it unless --verbose.

The worker and API start as soon as the prices are loaded, and wait for the model `up`
chooses (or trains) in the meantime: it fetches that version into the local model cache and
writes its choice to a file they wait on, so their start-up overlaps the choice.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
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
from core.logs import setup_logging
from core.processes import die_with_parent, interrupt_on_signals, stop
from model.serving import alias_for, cached_choice, choose_model
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

    def retire(self, name: str) -> None:
        """Kill the child `name` and forget it: one started again under the same name.

        Only children still waiting for `up`'s choice are retired: they hold nothing yet, so
        they are not asked to stop. The API would not have answered: its start-up is blocked
        on the choice, and uvicorn waits for the start-up before it acts on SIGTERM, so every
        `up` whose champion did not fit waited out the 15 s stop timeout.
        """
        for entry in [entry for entry in self.processes if entry[0] == name]:
            self.processes.remove(entry)
            entry[1].kill()
            entry[1].wait()

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


# Training in `up` runs beside the worker and API starting up: on 2 cores, torch's two
# threads spin against them and each other (a step of the LSTM: 5 ms on one thread, 110 to
# 220 ms on two, on a busy 2-core machine).
TRAINING_THREADS = 1


def prepare_training(verbose: bool) -> None:
    """Just before `up` trains: Lightning quieted as it loads, torch on TRAINING_THREADS."""
    setup_logging(verbose, heavy=True)
    import torch

    torch.set_num_threads(TRAINING_THREADS)


def serve(settings: Settings, data: PriceData, options: UpOptions, screen: Screen) -> ServingChoice:
    """The model the worker and API serve: choose_model trains one when none fits these
    prices, saying why, with a bar of its epochs.

    MLflow loads here and Lightning only before a training: each quieted as it loads (they
    set their loggers up on import), so a run with a model never pays Lightning's seconds.
    Neither loads when the model cache vouches for a model that fits (`cached_choice`).
    """
    choice = cached_choice(settings, data)
    if choice is None:
        choice = _chosen_by_registry(settings, data, options, screen)
    if choice.warning:
        screen.warn(f"model      {choice.line}")
    else:
        screen.plain(f"model      {choice.line}")
    if choice.trained:
        seen = choice.trained_on.describe() if choice.trained_on else "not recorded"
        screen.plain(f"           trained on {seen}")
    return choice


def _chosen_by_registry(
    settings: Settings, data: PriceData, options: UpOptions, screen: Screen
) -> ServingChoice:
    """`choose_model` on the registry, then the chosen version into the model cache."""
    setup_logging(options.verbose, registry=True)
    bar = TrainingBar(screen, settings.model.max_epochs)
    try:
        choice = choose_model(
            settings,
            data,
            retrain=options.retrain,
            say=bar.say,
            progress=False,
            on_epoch=bar.on_epoch,
            before_training=lambda: prepare_training(options.verbose),
        )
    finally:
        bar.close()
    from model.fetch import fetch, remember_when_settled  # MLflow is loaded: in process

    fetch(settings, choice.version)  # into the cache, where the worker and API start on it
    if choice.ref != choice.version:
        remember_when_settled(settings, choice.ref)  # what the alias names: `cached_choice`
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
    """The embedded broker unless one is configured (then checked to answer); the topics.

    The embedded broker keeps nothing past its process, so its worker keeps the table in
    memory: a table on disk would outlive the changelog behind it, and each later `up` would
    start by dropping it, with a warning.
    """
    bootstrap = settings.kafka.bootstrap_servers
    if not bootstrap:
        settings.data.dir.mkdir(parents=True, exist_ok=True)
        broker = EmbeddedBroker(
            port=settings.kafka.embedded_port, log_path=settings.data.dir / "broker.log"
        ).start()
        assert broker.process is not None
        children.adopt("broker", broker.process)
        bootstrap = broker.bootstrap
        settings = settings.with_kafka(table_store="memory")
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
    children: Children,
    settings: Settings,
    options: UpOptions,
    served: Served,
) -> None:
    """The worker and the API, serving `served.ref`: they start at once and wait for the
    version `up` chooses (`served.choice`), so their start-up overlaps the choice and any
    training. The worker picks its own session timeout from the broker it finds."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "TICKCAST_MLFLOW__SERVE": served.ref,
        "TICKCAST_MLFLOW__START_CHOICE": str(served.choice),
        "TICKCAST_KAFKA__TABLE_STORE": settings.kafka.table_store,
        "PYTHONUNBUFFERED": "1",  # their lines reach the screen as they are written
    }
    verbose = ["--verbose"] if options.verbose else []
    children.start("worker", [sys.executable, "-m", "tickcast", "worker", *verbose], env)
    api_env = {**env, **train_data_env(options.source, env)}
    if served.token:
        api_env["TICKCAST_API__TOKEN"] = served.token
    address = ["--api-host", options.api_host, "--api-port", str(options.api_port)]
    children.start("API", [sys.executable, "-m", "tickcast", "api", *address, *verbose], api_env)


@dataclass(frozen=True)
class Served:
    """What the worker and API are started on: the alias or version they serve, the file
    where `up` writes the version it chose, and the API token made for this run ("" when
    TICKCAST_API__TOKEN is set)."""

    ref: str
    choice: Path
    token: str


def serve_chosen(
    children: Children,
    settings: Settings,
    options: UpOptions,
    served: Served,
    choice: ServingChoice,
) -> None:
    """Let the waiting worker and API start on `choice`. When it is not the alias they were
    started for (a version that did not take it), start them again pinned to that version."""
    from model.fetch import StartChoice, write_choice

    if choice.ref != served.ref:
        for name in ("API", "worker"):
            children.retire(name)
        served = Served(choice.ref, served.choice.with_name("pinned.json"), served.token)
        start_services(children, settings, options, served)
    write_choice(served.choice, StartChoice(ref=choice.ref, version=choice.version))


def up(settings: Settings, options: UpOptions, screen: Screen) -> None:
    """Run the whole pipeline until Ctrl-C or SIGTERM, or until a child stops; every child
    process stops with it."""
    children = Children(screen.child_line)
    choices = tempfile.TemporaryDirectory(prefix="tickcast-up-")  # where `up` writes its choice
    try:
        with interrupt_on_signals():
            embedded = not settings.kafka.bootstrap_servers
            settings = start_bus(settings, children)
            data = load_or_fallback(settings, options, screen)
            show_source(screen, data)
            served = Served(
                alias_for(settings.mlflow, data),
                Path(choices.name) / "choice.json",
                "" if os.environ.get("TICKCAST_API__TOKEN") else secrets.token_urlsafe(24),
            )
            start_services(children, settings, options, served)
            choice = serve(settings, data, options, screen)
            serve_chosen(children, settings, options, served, choice)
            show_addresses(screen, settings, options, served.token, embedded)
            asyncio.run(replay(settings, data, options.rate, children, screen))
    except KeyboardInterrupt:
        screen.plain("stopping...")
    finally:
        children.stop()
        choices.cleanup()
        screen.plain("all stopped")
