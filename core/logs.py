"""Logging set up once per process: INFO with -v, otherwise warnings and no library chatter."""

from __future__ import annotations

import importlib
import logging
import time
import warnings
from collections.abc import Callable

QUIET_LOGGERS = (
    "lightning",
    "lightning.pytorch",
    "lightning_fabric",
    "mlflow",
    "yfinance",
)
# Noise even with -v, which is for tickcast's own INFO lines (their warnings still show):
# Lightning's device lines ("GPU available: False", "TPU available"...) and tips, and the
# ~80 lines of MLflow's database migrations when a store is new.
CHATTY_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "alembic",
    "mlflow.store.db.utils",
)


def setup_logging(verbose: bool, heavy: bool = False, registry: bool = False) -> None:
    """Configure the root logger and silence the libraries' own loggers below -v.

    Lightning and MLflow set their loggers up when imported, so `heavy` (commands that may
    train) imports both first, and `registry` (commands that only load models: the worker)
    imports just MLflow, sparing their start-up Lightning's seconds of import.
    """
    libraries = ("lightning", "mlflow") if heavy else ("mlflow",) if registry else ()
    for module in libraries:
        importlib.import_module(module)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    for name in CHATTY_LOGGERS:  # their own levels: a later import of Lightning keeps them
        logging.getLogger(name).setLevel(logging.WARNING if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")
        if "mlflow" in libraries:
            _quiet_mlflow_prints()


class _Sink:
    """Where MLflow's own prints go below -v."""

    enabled = False

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _quiet_mlflow_prints() -> None:
    """MLflow prints "Successfully registered model" and "Created version" itself (`eprint`,
    to the stream in `mlflow.utils.logging_utils`), not through its logger; its
    `disable_logging()` does not last (importing mlflow.types.responses turns the stream back
    on). `eprint` looks the stream up when it prints, so a sink there silences the prints,
    while MLflow's logger keeps its own handle on the real stream for its errors."""
    from mlflow.utils import logging_utils

    logging_utils.MLFLOW_LOGGING_STREAM = _Sink()  # type: ignore[assignment]


# What aiokafka logs, at WARNING and above, while a broker cannot be reached.
CONNECTION_TROUBLE = (
    "Unable connect to node",
    "Unable to update metadata",
    "Unable to request metadata",
    "Connect call failed",
    "NodeNotReadyError",
    "KafkaConnectionError",
    "Failed fetch messages",
    "Marking the coordinator dead",
    "Group Coordinator Request failed",
    "Heartbeat failed",
    "coordinator dead",
    "Connection at",
)


class OutageFilter(logging.Filter):
    """Turns a broker outage's storm of client errors (a line every ~10 ms) into one line
    when it starts and one every `every_s` while it lasts; `back()` closes it.

    Attached to the Kafka client's loggers; other records pass untouched.
    """

    def __init__(self, address: str, every_s: float, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.address, self.every_s, self.clock = address, every_s, clock
        self.since: float | None = None  # when the outage began
        self.said = 0.0  # when a line about it was last let through

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        text = record.getMessage()
        if not any(sign in text for sign in CONNECTION_TROUBLE):
            return True
        now = self.clock()
        if self.since is None:
            self.since = self.said = now
            record.msg, record.args = (
                "lost the Kafka broker at %s (%s); retrying, with a line every %.0f s until "
                "it is back",
                (self.address, text.strip(), self.every_s),
            )
            return True
        if now - self.said >= self.every_s:
            self.said = now
            record.msg, record.args = (
                "still no Kafka broker at %s after %.0f s (%s)",
                (self.address, now - self.since, text.strip()),
            )
            return True
        return False

    @property
    def in_outage(self) -> bool:
        return self.since is not None

    def back(self) -> float:
        """The broker answers again: end the outage and return how long it lasted."""
        lasted = 0.0 if self.since is None else self.clock() - self.since
        self.since = None
        return lasted

    def attach(self, prefix: str = "aiokafka") -> None:
        """Filter every logger under `prefix`, existing or created later by name lookups."""
        for name in [prefix, *logging.Logger.manager.loggerDict]:
            if name == prefix or name.startswith(prefix + "."):
                logging.getLogger(name).addFilter(self)
