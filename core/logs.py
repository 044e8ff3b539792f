"""Logging set up once per process: INFO with -v, otherwise warnings and no library chatter."""

from __future__ import annotations

import importlib
import logging
import warnings

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
