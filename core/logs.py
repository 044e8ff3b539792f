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
    "alembic",
    "yfinance",
)


def setup_logging(verbose: bool, heavy: bool = False) -> None:
    """Configure the root logger and silence the libraries' own loggers below -v.

    Lightning and MLflow set their loggers up when imported, so `heavy` imports them first.
    """
    if heavy:
        for module in ("lightning", "mlflow"):
            importlib.import_module(module)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")


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
