"""`tickcast data`: load prices from a source and report what validation dropped."""

from __future__ import annotations

import typer
from rich.table import Table

from core.logs import setup_logging
from tickcast.cli.common import (
    End,
    Source,
    Start,
    Tickers,
    Verbose,
    as_date,
    load,
    out,
    settings,
    user_errors,
)


def show(
    source: Source = None,
    tickers: Tickers = None,
    start: Start = None,
    end: End = None,
    tail: int = typer.Option(5, min=0, help="Rows to show from the end of each ticker."),
    verbose: Verbose = False,
) -> None:
    """Load prices and show each ticker's rows and every row dropped, with its reason."""
    setup_logging(verbose)
    cfg = settings(verbose)
    with user_errors(verbose):
        data = load(cfg, source, tickers, as_date(start), as_date(end))
    for ticker, frame in data.frames.items():
        if tail:
            table = Table(*frame.columns, title=ticker)
            for row in frame.tail(tail).itertuples(index=False):
                table.add_row(
                    str(row.date.date()), *(f"{v:.4f}" for v in row[1:5]), f"{row.volume:.0f}"
                )
            out.print(table)
