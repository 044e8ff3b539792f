"""Read OHLCV CSV files: plain layouts in any column order, and yfinance's 3-row header."""

from __future__ import annotations

import csv
import io
import logging
import re
import warnings
from pathlib import Path
from typing import Literal

import pandas as pd

from producers.errors import SourceError
from producers.sources.csv_format import CsvFormat, check_separator
from producers.sources.csv_values import check_decimal, parse_dates, parse_numbers

logger = logging.getLogger(__name__)

CloseChoice = Literal["auto", "close", "adj_close"]

_DATE_NAMES = ("date", "datetime", "timestamp", "time")
_TICKER_NAMES = ("ticker", "symbol")

#: A file name that names a ticker as exchanges write them: PETR4.SA, AAPL, ^BVSP, BRL=X.
#: Lower-case names (prices, cmig4-download) are taken as plain file names.
_TICKER_LIKE = re.compile(r"\^?[A-Z0-9]+(?:[.=-][A-Z0-9]+)*")
_TICKER_MAX = 16


def _canonical(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read the file ({exc})") from exc
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise SourceError(f"{path}: the file is empty")
    return lines


def _split_yfinance_header(
    lines: list[str], delimiter: str
) -> tuple[list[str], str | None, list[str]]:
    """Header names, embedded ticker and data lines; handles yfinance's raw 3-row header."""
    rows = list(csv.reader(lines[:3], delimiter=delimiter))
    first = [_canonical(c) for c in rows[0]]
    is_raw = (
        len(rows) >= 3
        and first[:1] == ["price"]
        and _canonical(rows[1][0]) == "ticker"
        and _canonical(rows[2][0]) in _DATE_NAMES
    )
    if not is_raw:
        return rows[0], None, lines[1:]
    tickers = {t.strip() for t in rows[1][1:] if t.strip()}
    ticker = tickers.pop() if len(tickers) == 1 else None
    return ["Date", *rows[0][1:]], ticker, lines[3:]


def _column_ticker(path: Path, raw: pd.DataFrame, names: list[str]) -> str | None:
    """The one ticker a `ticker` or `symbol` column names; a file of several is refused."""
    column = next((n for n in names if n in _TICKER_NAMES), None)
    if column is None:
        return None
    values = list(dict.fromkeys(v.strip() for v in raw[column].dropna() if v.strip()))
    if len(values) > 1:
        shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
        raise SourceError(
            f"{path}: the {column} column names {len(values)} tickers ({shown}); "
            "give one file per ticker"
        )
    return values[0] if values else None


def _read_cells(path: Path, body: list[str], names: list[str], fmt: CsvFormat) -> pd.DataFrame:
    """Every cell as text under the header's names; refuses rows wider than the header.

    One spare column catches wider rows, which pandas would otherwise cut short silently
    (a decimal comma in a comma-separated file splits a value in two).
    """
    if not any(line.strip() for line in body):
        raise SourceError(f"{path}: no rows under the header")
    spare = len(names)
    try:
        with warnings.catch_warnings():  # rows two or more fields too wide: refused below
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            raw = pd.read_csv(
                io.StringIO("\n".join(body)),
                sep=fmt.delimiter,
                header=None,
                names=range(spare + 1),
                dtype=str,
                index_col=False,
            )
    except (pd.errors.ParserError, ValueError) as exc:
        raise SourceError(f"{path}: not a valid CSV ({exc})") from exc
    wide = raw[spare].notna()
    if wide.any():
        raise SourceError(
            f"{path}: the row of {raw.loc[wide, 0].iloc[0]!r} has more fields than the header "
            f"({spare}); a value may hold the separator (decimal commas in a comma-separated "
            f"file: quote them or use ?sep=;)"
        )
    return raw.drop(columns=spare).set_axis(names, axis=1)


def read_csv_bars(
    path: Path, close_column: CloseChoice = "auto", fmt: CsvFormat | None = None
) -> tuple[pd.DataFrame, str | None]:
    """Bars (date, open, high, low, close, volume) parsed as `fmt` says, and the ticker the
    file names inside (yfinance's header, or a `ticker`/`symbol` column), if any.

    The close is `Adj Close` when the file has one and `close_column` is auto or adj_close.
    Raises SourceError naming the file when it cannot be parsed, or when its dates or
    numbers are written otherwise than `fmt` says (the message names the option to set).
    """
    fmt = fmt or CsvFormat()
    lines = _read_lines(path)
    check_separator(lines[0], fmt, path)
    header, ticker, body = _split_yfinance_header(lines, fmt.delimiter)
    names = [_canonical(h) for h in header]
    if len(set(names)) != len(names):
        raise SourceError(f"{path}: duplicate column names in header {header}")
    date_col = next((n for n in names if n in _DATE_NAMES), None)
    if date_col is None:
        raise SourceError(f"{path}: no date column (expected one of {', '.join(_DATE_NAMES)})")
    if "adj_close" in names and close_column in ("auto", "adj_close"):
        close_col = "adj_close"
    elif close_column == "adj_close":
        raise SourceError(f"{path}: close_column is adj_close but the file has no Adj Close")
    elif "close" in names:
        close_col = "close"
    else:
        raise SourceError(f"{path}: no Close or Adj Close column in header {header}")
    raw = _read_cells(path, body, names, fmt)
    in_column = _column_ticker(path, raw, names)
    if ticker and in_column and in_column != ticker:
        raise SourceError(f"{path}: the header names {ticker} but the ticker column {in_column}")
    ticker = ticker or in_column
    numbers: dict[str, pd.Series] = {}
    for column in dict.fromkeys((close_col, "close", "open", "high", "low", "volume")):
        if column not in names:
            continue
        numbers[column] = parse_numbers(raw[column], fmt.decimal)
        if column != "volume":  # a thousands-grouped volume is no price written otherwise
            check_decimal(raw[column], numbers[column], fmt.decimal, path)
    bars = pd.DataFrame({"date": parse_dates(raw[date_col], fmt.dayfirst, path)})
    bars["close"] = numbers[close_col]
    for column in ("open", "high", "low", "volume"):
        if column in numbers:
            bars[column] = numbers[column]
    if close_col == "adj_close" and "close" in numbers:
        bars = adjust_bars(bars, numbers["close"])
    logger.debug("read %d rows from %s (close=%s, %s)", len(bars), path, close_col, fmt)
    return bars, ticker


def adjust_bars(bars: pd.DataFrame, raw_close: pd.Series) -> pd.DataFrame:
    """Scale open/high/low by each day's Adj Close / Close, so the bar stays consistent."""
    factor = bars["close"] / raw_close
    adjusted = bars.copy()
    for column in ("open", "high", "low"):
        if column in adjusted:
            adjusted[column] = adjusted[column] * factor
    return adjusted


def ticker_from_filename(path: Path) -> str:
    """`CMIG4.SA.csv` -> `CMIG4.SA`."""
    return path.name.removesuffix(".csv").removesuffix(".CSV")


def looks_like_ticker(name: str) -> bool:
    """Whether a file name reads as a ticker (PETR4.SA), not a plain name (prices)."""
    return len(name) <= _TICKER_MAX and _TICKER_LIKE.fullmatch(name) is not None


def file_ticker(path: Path, inside: str | None, asked: str | None) -> str:
    """The ticker a CSV file's prices are labelled with: the one asked for, else the one the
    file names inside, else its file name.

    Refused when the file says it holds another: the ticker it names inside, or a
    ticker-like file name (PETR4.SA.csv asked for as CMIG4.SA). A plain file name
    (prices.csv) says nothing, and labels the prices when nothing else does.
    """
    stem = ticker_from_filename(path)
    label = asked or inside or stem
    named = stem if looks_like_ticker(stem) else None
    if label == stem and not named:
        return label
    for where, other in (("its ticker column or header", inside), ("its file name", named)):
        if other and other.upper() != label.upper():
            raise SourceError(
                f"{path}: {where} says it holds {other}, not {label}; ask for {other}, or "
                f"give the file of {label}"
            )
    return label


def resolve_csv_files(location: Path, tickers: list[str]) -> dict[str, Path]:
    """Map each requested ticker to its file: a folder holds `TICKER.csv` files."""
    if not location.exists():
        raise SourceError(f"{location}: no such file or folder")
    if location.is_file():
        if len(tickers) > 1:
            raise SourceError(
                f"{location}: a single CSV file holds one ticker; pass a folder of TICKER.csv "
                f"files for {', '.join(tickers)}"
            )
        return {tickers[0] if tickers else ticker_from_filename(location): location}
    available = {ticker_from_filename(p): p for p in sorted(location.glob("*.csv"))}
    if not tickers:
        if not available:
            raise SourceError(f"{location}: the folder holds no .csv files")
        return available
    missing = [t for t in tickers if t not in available]
    if missing:
        raise SourceError(
            f"{location}: no file for {', '.join(missing)} "
            f"(expected TICKER.csv; found {', '.join(available) or 'none'})"
        )
    return {t: available[t] for t in tickers}
