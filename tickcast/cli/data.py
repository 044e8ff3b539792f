"""`tickcast data`: load prices from a source and report what validation dropped."""

from __future__ import annotations

import logging
from datetime import datetime

import typer
from rich.table import Table

from tickcast.cli.common import (
    DATE_FORMATS,
    as_date,
    load,
    out,
    settings,
    setup_logging,
    user_errors,
)

logger = logging.getLogger(__name__)

SOURCE_HELP = "yahoo, csv:PATH (a file, or a folder of TICKER.csv) or synthetic."


def show(
    source: str = typer.Option(None, "--source", help=SOURCE_HELP),
    tickers: str = typer.Option(None, "--tickers", help="Comma-separated, e.g. CMIG4.SA,PETR4.SA."),
    start: datetime = typer.Option(None, formats=DATE_FORMATS, help="First date (inclusive)."),
    end: datetime = typer.Option(None, formats=DATE_FORMATS, help="Last date (inclusive)."),
    tail: int = typer.Option(5, min=0, help="Rows to show from the end of each ticker."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Load prices and show each ticker's rows and every row dropped, with its reason."""
    setup_logging(verbose)
    cfg = settings()
    with user_errors():
        data = load(cfg, source, tickers, as_date(start), as_date(end))
    for ticker, frame in data.frames.items():
        if tail:
            table = Table(*frame.columns, title=ticker)
            for row in frame.tail(tail).itertuples(index=False):
                table.add_row(
                    str(row.date.date()), *(f"{v:.4f}" for v in row[1:5]), f"{row.volume:.0f}"
                )
            out.print(table)
