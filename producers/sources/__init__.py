"""Price sources: `yahoo`, `csv:PATH[?options]` and `synthetic`, giving one validated frame."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from core.config import DataSettings
from producers.errors import SourceError
from producers.sources.csv_files import file_ticker, read_csv_bars, resolve_csv_files
from producers.sources.csv_format import CsvFormat, csv_format, parse_options
from producers.sources.synthetic import SyntheticSpec, synthetic_bars
from producers.sources.validate import (
    NoClosesInRange,
    covered,
    no_closes,
    nothing_left,
    validate_bars,
)
from producers.sources.yahoo import yahoo_bars
from schemas.prices import LoadReport

logger = logging.getLogger(__name__)

SOURCE_KINDS = ("yahoo", "csv:PATH", "synthetic")


@dataclass(frozen=True)
class PriceData:
    """Validated frames per ticker (columns: schemas.prices.PRICE_COLUMNS) and their reports."""

    source: str
    kind: str
    frames: dict[str, pd.DataFrame]
    reports: dict[str, LoadReport]

    @property
    def synthetic(self) -> bool:
        return self.kind == "synthetic"


@dataclass(frozen=True)
class SourceSpec:
    """A parsed `--source`: its kind, the CSV path and the CSV options given in its query."""

    kind: str
    path: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def parse_source(spec: str) -> SourceSpec:
    """`yahoo` | `synthetic` | `csv:PATH[?dayfirst=true&decimal=,&sep=;]` -> SourceSpec."""
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind in ("yahoo", "synthetic") and not rest:
        return SourceSpec(kind)
    location, _, query = rest.partition("?")
    if kind == "csv" and location.strip():
        return SourceSpec("csv", Path(location.strip()).expanduser(), parse_options(query, spec))
    raise SourceError(f"unknown source {spec!r}; expected one of {', '.join(SOURCE_KINDS)}")


def _raw_bars(
    kind: str,
    ticker: str,
    start: date | None,
    end: date | None,
    settings: DataSettings,
    csv_file: Path | None,
    asked: str | None,
    fmt: CsvFormat,
) -> tuple[pd.DataFrame, str, str]:
    """Raw bars, their origin, and the ticker (a lone CSV file may name its own)."""
    if kind == "synthetic":
        # Always generate from the same anchor so that any [start, end] slices one series.
        anchor = date.fromisoformat(settings.synthetic_start)
        first = min(start, anchor) if start else anchor
        last = end or date.fromisoformat(settings.synthetic_end)
        bars = synthetic_bars(ticker, first, last, SyntheticSpec(seed=settings.synthetic_seed))
        return bars, f"synthetic GBM seed={settings.synthetic_seed}", ticker
    if kind == "yahoo":
        bars, origin = yahoo_bars(
            ticker,
            start,
            end,
            cache_dir=settings.cache_dir,
            ttl_hours=settings.yahoo_cache_ttl_h,
            timeout_s=settings.yahoo_timeout_s,
        )
        return bars, origin, ticker
    assert csv_file is not None
    bars, inside = read_csv_bars(csv_file, settings.close_column, fmt)
    return bars, str(csv_file), file_ticker(csv_file, inside, asked)


def _range_hint(kind: str, end: date | None) -> str:
    """What else to try when a range holds no closes; synthetic prices reach any end given."""
    if kind == "synthetic" and end is None:
        return (
            "; synthetic prices run to the end date asked for, else to TICKCAST_DATA__SYNTHETIC_END"
        )
    return ""


def load_prices(
    spec: str,
    tickers: list[str],
    settings: DataSettings,
    start: date | None = None,
    end: date | None = None,
) -> PriceData:
    """Load and validate bars for each ticker in [start, end] (inclusive, None = open).

    A ticker with no close in the range is refused (NoClosesInRange), naming the dates its
    source has, as is a CSV file whose name or content says it holds another ticker.
    """
    source = parse_source(spec)
    kind, path = source.kind, source.path
    fmt = csv_format(settings, source.options)
    if start and end and end < start:
        raise SourceError(f"end {end} is before start {start}")
    if kind != "csv" and not tickers:
        raise SourceError(f"source {kind} needs at least one ticker")
    files = resolve_csv_files(path, tickers) if kind == "csv" and path else {}
    names = list(files) if kind == "csv" else tickers
    lone_file = path is not None and path.is_file()
    frames: dict[str, pd.DataFrame] = {}
    reports: dict[str, LoadReport] = {}
    for name in names:
        asked = name if tickers or not lone_file else None  # a lone file may name its own
        bars, origin, ticker = _raw_bars(
            kind, name, start, end, settings, files.get(name), asked, fmt
        )
        checked = validate_bars(bars, start=start, end=end, drop_filler=settings.drop_filler_rows)
        frame = checked.frame
        if checked.range_is_empty:
            covers = covered(bars, settings.drop_filler_rows)
            raise NoClosesInRange(no_closes(ticker, start, end, covers) + _range_hint(kind, end))
        if frame.empty:
            raise SourceError(f"{origin}: {nothing_left(checked.dropped)}")
        frame.attrs.update(ticker=ticker, source=kind)
        report = LoadReport(
            ticker=ticker,
            source=spec,
            origin=origin,
            synthetic=kind == "synthetic",
            rows_in=checked.rows_in,
            rows_out=len(frame),
            dropped=checked.dropped,
            first_date=frame["date"].iloc[0].date().isoformat(),
            last_date=frame["date"].iloc[-1].date().isoformat(),
        )
        logger.info("%s", report.summary())
        frames[ticker], reports[ticker] = frame, report
    return PriceData(source=spec, kind=kind, frames=frames, reports=reports)


def check_range(
    spec: str,
    tickers: list[str],
    settings: DataSettings,
    start: date | None = None,
    end: date | None = None,
) -> None:
    """Fail now, before a model loads, when the prices cannot be had for [start, end].

    Commands that load a model first (it says how much history to read) call this so that a
    range outside the data, or a wrong file, fails in a second. Offline sources are read
    (cheap); Yahoo is left to the load itself, which asks it once and names the range.
    Synthetic prices of every ticker share their dates, so one ticker answers for all: a
    thousand would be generated twice, for nothing.
    """
    kind = parse_source(spec).kind
    if kind == "synthetic":
        load_prices(spec, tickers[:1], settings, start, end)
    elif kind != "yahoo":
        load_prices(spec, tickers, settings, start, end)
