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
    DUPLICATE = "duplicate"  # a date held with the same close: skip
    STALE = "stale"  # older than a full window: it can change nothing, skip
    CORRECTION = "correction"  # a held date with another close: dead-letter
    LATE = "late close"  # a date the window passed over, or before a window still filling


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

    Kafka redelivers, and producers republish history, so closes at or before the last date
    are normal: a held date with the same close is a duplicate, and a date older than a full
    window is stale (it was applied and has dropped out, or is too old to matter); both
    change nothing. A held date with another close is a correction, and a date the window
    never held but should have (a gap it passed over, or before a window still filling) is
    a late close: both are real data the window cannot take, so they are dead-lettered.
    Only an append changes the window.
    """
    if window.last_date is None or day > window.last_date:
        dates = (*window.dates, day)[-size:]
        closes = (*window.closes, close)[-size:]
        bars = (*window.bars, bar)[-size:]
        return Window(dates, closes, bars), Outcome.APPENDED
    if day in window.dates:
        held = window.closes[window.dates.index(day)]
        same = math.isclose(held, close, rel_tol=1e-12, abs_tol=0.0)
        return window, Outcome.DUPLICATE if same else Outcome.CORRECTION
    if day < window.dates[0] and len(window) >= size:
        return window, Outcome.STALE
    return window, Outcome.LATE
