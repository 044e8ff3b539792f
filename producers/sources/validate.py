"""Turn raw bars into the validated frame, counting every dropped row by its reason."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from producers.errors import SourceError
from schemas.prices import PRICE_COLUMNS

logger = logging.getLogger(__name__)

INVALID_DATE = "invalid date"
NON_FINITE_CLOSE = "non-finite close"
NON_POSITIVE_CLOSE = "non-positive close"
FILLER_ROW = "Yahoo filler row (O=H=L=C, volume 0)"
DUPLICATE_DATE = "duplicate date"

#: What to change when a reason dropped every row of a source.
_HINTS = {
    INVALID_DATE: "dates must read YYYY-MM-DD, or DD/MM/YYYY or MM/DD/YYYY with ?dayfirst=",
    NON_FINITE_CLOSE: "the close column holds no numbers (a decimal comma needs ?decimal=,)",
    FILLER_ROW: "keep filler rows with TICKCAST_DATA__DROP_FILLER_ROWS=false",
}


class NoClosesInRange(SourceError):
    """A date range in which a source has no closes of a ticker; the message names the
    dates it does have."""


@dataclass
class Validated:
    frame: pd.DataFrame
    rows_in: int
    dropped: dict[str, int] = field(default_factory=dict)
    out_of_range: int = 0  # dated rows outside [start, end], left out of rows_in

    @property
    def range_is_empty(self) -> bool:
        """No dated row fell in [start, end]: the range, not bad rows, left the frame empty."""
        dated_in_range = self.rows_in - self.dropped.get(INVALID_DATE, 0)
        return self.frame.empty and not dated_in_range and (self.out_of_range or not self.rows_in)


def is_filler(values: dict[str, np.ndarray]) -> np.ndarray:
    """Rows Yahoo inserts on some holidays: open = high = low = close and zero volume."""
    close = values["close"]
    flat = (values["open"] == close) & (values["high"] == close) & (values["low"] == close)
    return flat & (values["volume"] == 0)


def nothing_left(dropped: dict[str, int]) -> str:
    """Why a source gave no rows: the counts by reason and what to change, for the error."""
    counts = ", ".join(f"{n} {reason}" for reason, n in dropped.items())
    hints = "; ".join(_HINTS[reason] for reason in dropped if reason in _HINTS)
    return f"every row was dropped ({counts})" + (f"; {hints}" if hints else "")


def no_closes(ticker: str, start: date | None, end: date | None, covers: str | None) -> str:
    """Why [start, end] gave nothing, with the dates the source has: for the error."""
    if start and end:
        when = f"between {start} and {end}"
    else:
        when = f"from {start} on" if start else f"up to {end}" if end else "at all"
    return f"no {ticker} closes {when}; " + (
        f"the data covers {covers}" if covers else "the source gave none"
    )


def covered(raw: pd.DataFrame, drop_filler: bool = True) -> str | None:
    """'first..last' of the valid closes in `raw`, whatever the range asked; None if none."""
    frame = validate_bars(raw, drop_filler=drop_filler).frame
    if frame.empty:
        return None
    return f"{frame['date'].iloc[0].date()}..{frame['date'].iloc[-1].date()}"


def validate_bars(
    raw: pd.DataFrame,
    *,
    start: date | None = None,
    end: date | None = None,
    drop_filler: bool = True,
) -> Validated:
    """Parse dates, keep [start, end], drop bad rows with reasons, sort, de-duplicate.

    `raw` has a `date` column (datetimes or ISO text: no day/month order is guessed) and
    numeric-ish OHLCV columns; missing open/high/low/volume columns become NaN. Duplicate
    dates keep the last row, the newest.

    Each reason counts only rows that passed the checks before it. The checks run on numpy
    arrays and the frame is built once, at the end: a backtest validates every ticker it
    replays, and pandas' cost per step was most of loading 1,000 synthetic tickers.
    """
    dropped: dict[str, int] = {}
    values = {
        column: pd.to_numeric(raw[column], errors="coerce").astype("float64").to_numpy()
        if column in raw
        else np.full(len(raw), np.nan)
        for column in PRICE_COLUMNS[1:]
    }
    dates = pd.to_datetime(raw["date"], errors="coerce", utc=True, format="ISO8601")
    day = dates.dt.tz_localize(None).dt.normalize().to_numpy("datetime64[ns]")
    keep = ~np.isnat(day)
    _count(~keep, INVALID_DATE, dropped)
    dated = int(keep.sum())
    if start is not None:
        keep &= day >= np.datetime64(start, "ns")
    if end is not None:
        keep &= day <= np.datetime64(end, "ns")
    rows_in = int(keep.sum()) + dropped.get(INVALID_DATE, 0)  # in range, plus undatable rows
    out_of_range = dated - int(keep.sum())
    close = values["close"]
    keep = _without(keep, ~np.isfinite(close), NON_FINITE_CLOSE, dropped)
    keep = _without(keep, close <= 0, NON_POSITIVE_CLOSE, dropped)
    if drop_filler:
        keep = _without(keep, is_filler(values), FILLER_ROW, dropped)
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(day[rows], kind="stable")]
    # Sorted by date, a row whose successor has the same date is an older duplicate.
    older = np.zeros(len(rows), dtype=bool)
    older[:-1] = day[rows[:-1]] == day[rows[1:]]
    _count(older, DUPLICATE_DATE, dropped)
    rows = rows[~older]
    frame = pd.DataFrame(
        {"date": day[rows], **{column: values[column][rows] for column in PRICE_COLUMNS[1:]}}
    )
    for reason, count in dropped.items():
        logger.info("dropped %d rows: %s", count, reason)
    return Validated(frame=frame, rows_in=rows_in, dropped=dropped, out_of_range=out_of_range)


def _count(mask: np.ndarray, reason: str, dropped: dict[str, int]) -> None:
    count = int(mask.sum())
    if count:
        dropped[reason] = dropped.get(reason, 0) + count


def _without(keep: np.ndarray, bad: np.ndarray, reason: str, dropped: dict[str, int]) -> np.ndarray:
    """`keep` less the rows it still holds that are `bad`, counted under `reason`."""
    hit = keep & bad
    _count(hit, reason, dropped)
    return keep & ~hit
