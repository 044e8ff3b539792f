"""What every benchmark shares, so that each script holds only its own measurements.

The scripts run as `python benchmarks/<name>.py`; benchmarks/ is then on sys.path and they
import this module as `common`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from aiokafka.structs import ConsumerRecord
from rich.console import Console
from rich.table import Table

from core import kafka as bus
from core.config import KafkaSettings, Settings
from core.processes import die_with_parent, stop
from model.predictor import Predictor
from model.training import train
from producers.sources import PriceData, load_prices
from schemas.metrics import TrainResult

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
FIVE = ["CMIG4.SA", "PETR4.SA", "VALE3.SA", "ITUB4.SA", "BBDC4.SA"]
# One split for every model a benchmark trains: train 2018-2022, validation 2023, test 2024.
START, VALID_START, TEST_START, END = (
    date(2018, 1, 2),
    date(2023, 1, 1),
    date(2024, 1, 1),
    date(2024, 12, 30),
)


def arguments(doc: str, **extra: int | float | str) -> argparse.Namespace:
    """`--data` plus one `--NAME` per keyword (typed by its default); then quiet libraries.

    Warnings and log records up to WARNING would break up the table; errors still show.
    """
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder of TICKER.csv files")
    for name, default in extra.items():
        parser.add_argument(
            f"--{name}", type=type(default), default=default, help=f"default: {default}"
        )
    args = parser.parse_args()
    if not args.data.is_dir():
        parser.error(f"{args.data}: no such folder; the benchmarks read ../shared/data")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    return args


@contextlib.contextmanager
def temporary_settings() -> Iterator[Settings]:
    """Settings whose data dir and sqlite MLflow store are a folder deleted afterwards.

    Benchmarks train and register models: the user's own store must never see them.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        yield Settings(data={"dir": root}, mlflow={"tracking_uri": f"sqlite:///{root}/mlflow.db"})


def train_on(
    settings: Settings, data: Path, tickers: list[str], promote: bool | None = None
) -> tuple[PriceData, TrainResult]:
    """Train on `tickers` 2018-2024 from `data` with the shared split, default hyperparameters.

    The first model of a store becomes the champion unless `promote` is False.
    """
    prices = load_prices(f"csv:{data}", tickers, settings.data, START, END)
    result = train(
        prices,
        settings,
        valid_start=VALID_START,
        test_start=TEST_START,
        promote=promote,
        progress=False,
    )
    return prices, result


def command_env(settings: Settings, **env: str) -> dict[str, str]:
    """The environment of a `python -m tickcast` child on the store of `settings`. A Kafka
    address inherited from the shell is dropped: `env` (e.g. KAFKA_BOOTSTRAP_SERVERS) says
    which bus."""
    variables = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    return variables | {
        "TICKCAST_DATA__DIR": str(settings.data.dir),
        "TICKCAST_MLFLOW__TRACKING_URI": settings.mlflow.tracking_uri,
        **env,
    }


def local_backtest(
    settings: Settings, tickers: list[str], start: str, end: str, *options: str
) -> tuple[float, subprocess.CompletedProcess]:
    """`tickcast backtest --engine local` over synthetic `tickers`, as a whole process: its
    wall time in seconds, and the finished process (output kept)."""
    command = [sys.executable, "-m", "tickcast", "backtest", "--engine", "local"]
    command += ["--source", "synthetic", "--tickers", ",".join(tickers)]
    command += ["--start", start, "--end", end, *options]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, env=command_env(settings), capture_output=True, text=True
    )
    return time.perf_counter() - started, done


@contextlib.contextmanager
def tickcast(settings: Settings, *command: str, **env: str) -> Iterator[subprocess.Popen]:
    """`python -m tickcast COMMAND` on the store of `settings`, stopped on the way out.

    A separate process, as in production, so its own memory can be measured."""
    with python(settings, ["-m", "tickcast", *command], f"tickcast {command[0]}", **env) as child:
        yield child


@contextlib.contextmanager
def python(
    settings: Settings, arguments: list[str], name: str, **env: str
) -> Iterator[subprocess.Popen]:
    """`python ARGUMENTS` with the environment of a tickcast command, stopped on the way out
    (`name` says which, should it not stop)."""
    process = subprocess.Popen(
        [sys.executable, *arguments],
        env=command_env(settings, TICKCAST_KAFKA__METRICS_PORT="0", **env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    try:
        yield process
    finally:
        stop(process, 30, name)


def cpu_s(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def throughput(
    predictor: Predictor, windows: np.ndarray, batch: int, seconds: float = 3.0
) -> float:
    """Forecasts per second of `Predictor.predict` over batches of `batch`, after a warm-up."""
    chunk = np.resize(windows, (batch, windows.shape[1]))
    predictor.predict(chunk)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predictor.predict(chunk)
        done += batch
    return done / (time.perf_counter() - started)


@dataclass
class Report:
    """One table of figures, each beside its reference or goal, and whether it met the goal."""

    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, figure: str, measured: str, reference: str, ok: bool | None = None) -> None:
        """`ok` None: a figure with no goal, so the met column stays empty."""
        met = "" if ok is None else ("yes" if ok else "NO")
        self.rows.append((figure, measured, reference, met))

    def print(self) -> None:
        table = Table(title=f"{self.title} - all figures measured in this run")
        for column in ("figure", "measured", "reference / goal", "met"):
            table.add_column(column)
        for row in self.rows:
            table.add_row(*row)
        Console(width=170).print(table)


# The reader's own fetch wait: short, so the latency measured is the worker's, not the reader's.
READER_WAIT_MS = 10


async def wait_for_forecasts(
    kafka: KafkaSettings,
    count: int,
    timeout_s: float,
    on_record: Callable[[ConsumerRecord, float], None] | None = None,
) -> tuple[int, float]:
    """Read `forecasts` from the start until `count` records; returns (seen, time of the last)."""
    consumer = bus.consumer(
        kafka, kafka.topics["forecasts"], from_beginning=True, fetch_max_wait_ms=READER_WAIT_MS
    )
    await consumer.start()
    seen, last, deadline = 0, 0.0, time.monotonic() + timeout_s
    try:
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    seen += 1
                    last = now
                    if on_record:
                        on_record(record, now)
    finally:
        await consumer.stop()
    return seen, last
