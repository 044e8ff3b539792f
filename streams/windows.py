"""The per-ticker rolling window of (date, close) pairs, and how one close changes it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np


class Outcome(StrEnum):
    APPENDED = "appended"
    DUPLICATE = "duplicate"
    OLDER_DATE = "older date"
    CHANGED_CLOSE = "changed close"


@dataclass(frozen=True)
class Window:
    """The last closes of one ticker, oldest first; at most `size` of them."""

    dates: tuple[date, ...] = ()
    closes: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.closes)

    @property
    def last_date(self) -> date | None:
        return self.dates[-1] if self.dates else None

    def array(self) -> np.ndarray:
        return np.asarray(self.closes, dtype=np.float64)

    def to_json(self) -> list[list]:
        return [[d.isoformat(), c] for d, c in zip(self.dates, self.closes, strict=True)]

    @classmethod
    def from_json(cls, pairs: list[list]) -> Window:
        return cls(
            tuple(date.fromisoformat(d) for d, _ in pairs), tuple(float(c) for _, c in pairs)
        )


def apply_close(window: Window, day: date, close: float, size: int) -> tuple[Window, Outcome]:
    """Append a close dated after the window's last; classify anything else.

    A date already held with the same close is a duplicate (ignored); with another close it
    is a changed close; a date before the last that is not held is an older date. Only an
    append changes the window.
    """
    if window.last_date is None or day > window.last_date:
        dates = (*window.dates, day)[-size:]
        closes = (*window.closes, close)[-size:]
        return Window(dates, closes), Outcome.APPENDED
    if day in window.dates:
        held = window.closes[window.dates.index(day)]
        same = math.isclose(held, close, rel_tol=1e-12, abs_tol=0.0)
        return window, Outcome.DUPLICATE if same else Outcome.CHANGED_CLOSE
    return window, Outcome.OLDER_DATE
