"""CSV cells to dates and floats, read as the CsvFormat says; a file that disagrees is refused.

No reading is guessed: pandas' `format="mixed"` swapped day and month wherever the day was
12 or less, and a decimal comma turned every close into NaN. Cells that fit no reading
become NaT / NaN, which validate.py then counts as dropped rows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from producers.errors import SourceError

logger = logging.getLogger(__name__)

_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?)?"
#: 2024-02-03, optionally with a time and UTC offset, which a daily bar drops.
_ISO = rf"^(?P<year>\d{{4}})-(?P<month>\d{{1,2}})-(?P<day>\d{{1,2}}){_TIME}$"
#: 03/02/2024, 03.02.2024 or 03-02-2024: day and month order is not written down.
_YEAR_LAST = (
    rf"^(?P<first>\d{{1,2}})(?P<mark>[./-])(?P<second>\d{{1,2}})(?P=mark)(?P<year>\d{{4}}){_TIME}$"
)

#: The first and last days a pandas Timestamp (nanoseconds) can hold.
_FIRST_DAY = pd.Timestamp.min.ceil("D")
_LAST_DAY = pd.Timestamp.max.floor("D")

_MONTHS = 12
_DAYS = 31


def _text(cells: pd.Series) -> pd.Series:
    return cells.astype("string").str.strip()


def _refuse_year_last(path: Path, cells: pd.Series, first: pd.Series, second: pd.Series) -> None:
    """Stop at dates whose day/month order only an option can tell, saying which would fit."""
    hint = ""
    if (second <= _MONTHS).all() and (first > _MONTHS).any():
        hint = f" (only dayfirst=true fits every date, e.g. {cells[first > _MONTHS].iloc[0]!r})"
    elif (first <= _MONTHS).all() and (second > _MONTHS).any():
        hint = f" (only dayfirst=false fits every date, e.g. {cells[second > _MONTHS].iloc[0]!r})"
    raise SourceError(
        f"{path}: dates such as {cells.iloc[0]!r} put the year last, so day and month could "
        f"be either way round; add ?dayfirst=true (DD/MM/YYYY) or ?dayfirst=false (MM/DD/YYYY) "
        f"to the source{hint}"
    )


def _refuse_wrong_order(path: Path, cells: pd.Series, dayfirst: bool) -> None:
    """Stop when the chosen order misreads a date the other order reads: the option is wrong."""
    order, other = ("DD/MM/YYYY", "false") if dayfirst else ("MM/DD/YYYY", "true")
    raise SourceError(
        f"{path}: {cells.iloc[0]!r} is no {order} date but reads the other way round; "
        f"use ?dayfirst={other} for this file"
    )


def _other_forms(text: pd.Series, dayfirst: bool | None, path: Path) -> pd.Series:
    """ISO dates with a time or zone (the written day kept), and year-last ones by `dayfirst`."""
    parts = text.str.extract(_ISO)[["year", "month", "day"]].apply(pd.to_numeric).astype(float)
    year_last = text.str.extract(_YEAR_LAST)
    found = year_last["year"].notna()
    if found.any():
        first = pd.to_numeric(year_last.loc[found, "first"]).astype(float)
        second = pd.to_numeric(year_last.loc[found, "second"]).astype(float)
        if dayfirst is None:
            _refuse_year_last(path, text[found], first, second)
        day, month = (first, second) if dayfirst else (second, first)
        misread = (month > _MONTHS) & (month <= _DAYS) & (day <= _MONTHS)
        if misread.any():
            _refuse_wrong_order(path, text[found][misread], bool(dayfirst))
        parts.loc[found, "day"] = day
        parts.loc[found, "month"] = month
        parts.loc[found, "year"] = pd.to_numeric(year_last.loc[found, "year"]).astype(float)
    return pd.to_datetime(parts, errors="coerce")  # NaT for 2024-02-30 and cells of no form


def parse_dates(cells: pd.Series, dayfirst: bool | None, path: Path) -> pd.Series:
    """Dates as written (datetime64[ns], time and zone dropped); NaT where a cell is no date.

    ISO dates are always read. Dates with the year last need `dayfirst`; without it, or when
    it contradicts a date, the file is refused. So is a date pandas cannot hold.
    """
    text = _text(cells)
    # Plain YYYY-MM-DD, nearly every file, in one vectorised pass; microseconds hold year 9999.
    dates = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").astype("datetime64[us]")
    rest = dates.isna() & text.notna()
    if rest.any():
        dates[rest] = _other_forms(text[rest], dayfirst, path)
    outside = (dates < _FIRST_DAY) | (dates > _LAST_DAY)
    if outside.any():
        raise SourceError(
            f"{path}: the date {text[outside].iloc[0]!r} is outside what pandas can hold "
            f"({_FIRST_DAY:%Y-%m-%d} to {_LAST_DAY:%Y-%m-%d}); fix or remove that row"
        )
    return dates.astype("datetime64[ns]")


def parse_numbers(cells: pd.Series, decimal: str) -> pd.Series:
    """Floats with `decimal` as the decimal mark; NaN where a cell is no such number.

    With a decimal comma a point is no thousands separator but a misfit: 9.47 is NaN.
    """
    text = _text(cells)
    if decimal != ".":
        text = text.mask(text.str.contains(".", regex=False)).str.replace(decimal, ".", regex=False)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def check_decimal(cells: pd.Series, numbers: pd.Series, decimal: str, path: Path) -> None:
    """Refuse prices that only the other decimal mark reads, instead of dropping their rows."""
    other = "," if decimal == "." else "."
    missing = numbers.isna()
    misread = parse_numbers(cells[missing], other).notna()
    if misread.any():
        raise SourceError(
            f"{path}: {cells.name} values such as {_text(cells[missing])[misread].iloc[0]!r} use "
            f"{other!r} as the decimal mark; add ?decimal={other} to the source"
        )
