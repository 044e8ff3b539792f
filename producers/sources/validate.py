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


def _drop(
    frame: pd.DataFrame, mask: pd.Series, reason: str, dropped: dict[str, int]
) -> pd.DataFrame:
    count = int(mask.sum())
    if count:
        dropped[reason] = dropped.get(reason, 0) + count
    return frame.loc[~mask]


def is_filler(frame: pd.DataFrame) -> pd.Series:
    """Rows Yahoo inserts on some holidays: open = high = low = close and zero volume."""
    flat = (
        (frame["open"] == frame["close"])
        & (frame["high"] == frame["close"])
        & (frame["low"] == frame["close"])
    )
    return flat & (frame["volume"] == 0)


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
    """
    dropped: dict[str, int] = {}
    frame = raw.copy()
    for column in PRICE_COLUMNS[1:]:
        if column not in frame:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    dates = pd.to_datetime(frame["date"], errors="coerce", utc=True, format="ISO8601")
    frame["date"] = dates.dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    frame = _drop(frame, frame["date"].isna(), INVALID_DATE, dropped)
    dated = len(frame)
    if start is not None:
        frame = frame.loc[frame["date"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame.loc[frame["date"] <= pd.Timestamp(end)]
    rows_in = len(frame) + dropped.get(INVALID_DATE, 0)  # rows in range, plus undatable ones
    out_of_range = dated - len(frame)
    frame = _drop(frame, ~np.isfinite(frame["close"]), NON_FINITE_CLOSE, dropped)
    frame = _drop(frame, frame["close"] <= 0, NON_POSITIVE_CLOSE, dropped)
    if drop_filler:
        frame = _drop(frame, is_filler(frame), FILLER_ROW, dropped)
    frame = frame.sort_values("date", kind="stable")
    frame = _drop(frame, frame["date"].duplicated(keep="last"), DUPLICATE_DATE, dropped)
    frame = frame.loc[:, list(PRICE_COLUMNS)].reset_index(drop=True)
    for reason, count in dropped.items():
        logger.info("dropped %d rows: %s", count, reason)
    return Validated(frame=frame, rows_in=rows_in, dropped=dropped, out_of_range=out_of_range)
