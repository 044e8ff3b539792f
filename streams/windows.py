"""The per-ticker rolling window of daily bars, and how one close changes it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np

Bar = tuple[float, float, float]  # open, high, low; NaN where the tick did not carry them
NO_BAR: Bar = (math.nan, math.nan, math.nan)


class Outcome(StrEnum):
    APPENDED = "appended"
    DUPLICATE = "duplicate"
    OLDER_DATE = "older date"
    CHANGED_CLOSE = "changed close"


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


@dataclass(frozen=True)
class Window:
    """The last closes of one ticker, oldest first, with each day's open, high and low."""

    dates: tuple[date, ...] = ()
    closes: tuple[float, ...] = ()
    bars: tuple[Bar, ...] = ()

    def __len__(self) -> int:
        return len(self.closes)

    @property
    def last_date(self) -> date | None:
        return self.dates[-1] if self.dates else None

    def array(self) -> np.ndarray:
        return np.asarray(self.closes, dtype=np.float64)

    def bar_array(self) -> np.ndarray:
        return np.asarray(self.bars, dtype=np.float64).reshape(len(self), 3)

    def to_json(self) -> list[list]:
        return [
            [d.isoformat(), c, *(_number(v) for v in bar)]
            for d, c, bar in zip(self.dates, self.closes, self.bars, strict=True)
        ]

    @classmethod
    def from_json(cls, rows: list[list]) -> Window:
        """Rows of [date, close, open, high, low]; rows of [date, close] (older workers) too."""
        bars = tuple(
            tuple(math.nan if v is None else float(v) for v in (row[2:5] or NO_BAR)) for row in rows
        )
        return cls(
            tuple(date.fromisoformat(row[0]) for row in rows),
            tuple(float(row[1]) for row in rows),
            bars,  # type: ignore[arg-type]
        )


def apply_close(
    window: Window, day: date, close: float, size: int, bar: Bar = NO_BAR
) -> tuple[Window, Outcome]:
    """Append a close dated after the window's last; classify anything else.

    A date already held with the same close is a duplicate (ignored); with another close it
    is a changed close; a date before the last that is not held is an older date. Only an
    append changes the window.
    """
    if window.last_date is None or day > window.last_date:
        dates = (*window.dates, day)[-size:]
        closes = (*window.closes, close)[-size:]
        bars = (*window.bars, bar)[-size:]
        return Window(dates, closes, bars), Outcome.APPENDED
    if day in window.dates:
        held = window.closes[window.dates.index(day)]
        same = math.isclose(held, close, rel_tol=1e-12, abs_tol=0.0)
        return window, Outcome.DUPLICATE if same else Outcome.CHANGED_CLOSE
    return window, Outcome.OLDER_DATE
