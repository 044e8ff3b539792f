"""The per-ticker rolling window of daily bars, and how one close changes it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from itertools import chain

import numpy as np

Bar = tuple[float, float, float]  # open, high, low; NaN where the tick did not carry them
NO_BAR: Bar = (math.nan, math.nan, math.nan)


class Outcome(StrEnum):
    APPENDED = "appended"
    DUPLICATE = "duplicate"  # a date held with the same close: skip
    STALE = "stale"  # older than a full window: it can change nothing, skip
    CORRECTION = "correction"  # a held date with another close: dead-letter
    LATE = "late close"  # a date the window passed over, or before a window still filling


def _known(value: float) -> float | None:
    return value if value == value else None  # NaN, the one float unequal to itself: None


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

    def array(self, last: int | None = None) -> np.ndarray:
        """The closes (the `last` ones only, if given) as float64."""
        closes = self.closes if last is None else self.closes[-last:]
        return np.fromiter(closes, np.float64, count=len(closes))

    def bar_array(self, last: int | None = None) -> np.ndarray:
        """The bars (the `last` ones only, if given) as a days x 3 float64 array.

        Read flat: numpy's conversion of nested tuples took three times as long, per forecast.
        """
        bars = self.bars if last is None else self.bars[-last:]
        flat = np.fromiter(chain.from_iterable(bars), np.float64, count=3 * len(bars))
        return flat.reshape(len(bars), 3)

    def to_json(self) -> list[list]:
        """Rows of [date, close, open, high, low], None for an unknown price (NaN != NaN)."""
        return [
            [d.isoformat(), c, _known(o), _known(h), _known(lo)]
            for d, c, (o, h, lo) in zip(self.dates, self.closes, self.bars, strict=True)
        ]

    @classmethod
    def from_json(cls, rows: list[list]) -> Window:
        """Rows of [date, close, open, high, low]; rows of [date, close] (older workers) too.

        Read once per ticker and batch, so without a generator per row."""
        return cls(
            tuple(date.fromisoformat(row[0]) for row in rows),
            tuple(float(row[1]) for row in rows),
            tuple(_bar_of(row) for row in rows),
        )


def _bar_of(row: list) -> Bar:
    """Open, high and low of a stored row; NaN where unknown, all three for a bare close."""
    if len(row) < 5:
        return NO_BAR
    o, h, lo = row[2], row[3], row[4]
    return (
        math.nan if o is None else float(o),
        math.nan if h is None else float(h),
        math.nan if lo is None else float(lo),
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
