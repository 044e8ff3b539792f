"""What every command shares: settings, logging, option parsing and the error edge."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from model.errors import ModelError
from producers.errors import SourceError
from producers.sources import PriceData, load_prices
from tickcast.config import Settings, get_settings

logger = logging.getLogger(__name__)

out = Console()  # results: stdout
err = Console(stderr=True)  # progress, reports and errors: stderr, so --json stays clean

QUIET_LOGGERS = (
    "lightning",
    "lightning.pytorch",
    "lightning_fabric",
    "mlflow",
    "alembic",
    "yfinance",
)


def setup_logging(verbose: bool, heavy: bool = False) -> None:
    """INFO with -v; otherwise only warnings, and none of the libraries' chatter.

    Lightning and MLflow set their loggers up when imported, so `heavy` imports them first.
    """
    if heavy:
        import lightning  # noqa: F401
        import mlflow  # noqa: F401

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")


def settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        fail(f"invalid TICKCAST_ settings: {exc}")


def note(text: str) -> None:
    """One unwrapped line on stderr: reports and progress notes, never results."""
    err.print(text, highlight=False, soft_wrap=True)


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Library errors caused by the user's input become one line and exit code 1."""
    try:
        yield
    except (SourceError, ModelError) as exc:
        fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(problems)


def parse_tickers(value: str | None, default: tuple[str, ...]) -> list[str]:
    if value is None:
        return list(default)
    tickers = [t.strip() for t in value.split(",") if t.strip()]
    if not tickers:
        raise typer.BadParameter("give at least one ticker, e.g. CMIG4.SA,PETR4.SA")
    return tickers


def as_date(value: datetime | None) -> date | None:
    return value.date() if value else None


def load(
    cfg: Settings, source: str | None, tickers: str | None, start: date | None, end: date | None
) -> PriceData:
    """Prices from --source/--tickers (or the defaults), with each ticker's report on stderr."""
    tickers_list = parse_tickers(tickers, cfg.data.default_tickers)
    data = load_prices(source or cfg.data.default_source, tickers_list, cfg.data, start, end)
    for report in data.reports.values():
        note(report.summary())
    return data


DATE_FORMATS = ["%Y-%m-%d"]
SOURCE_HELP = "yahoo, csv:PATH (a file, or a folder of TICKER.csv) or synthetic."

# Options shared by several commands, as typed aliases.
Source = Annotated[str | None, typer.Option("--source", help=SOURCE_HELP)]
Tickers = Annotated[
    str | None, typer.Option("--tickers", help="Comma-separated, e.g. CMIG4.SA,PETR4.SA.")
]
Start = Annotated[
    datetime | None, typer.Option(formats=DATE_FORMATS, help="First date (inclusive).")
]
End = Annotated[datetime | None, typer.Option(formats=DATE_FORMATS, help="Last date (inclusive).")]
Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="Log at INFO.")]
