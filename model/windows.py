"""Sliding windows of closes and their chronological split, per ticker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from model.errors import NotEnoughDataError, TrainingError

SPLITS = ("train", "valid", "test")
FIELDS = ("ticker", "as_of", "target_date", "closes", "target", "bars")
BAR_COLUMNS = ("open", "high", "low")


@dataclass(frozen=True)
class WindowSet:
    """N windows: `closes` (N x W), the close that followed (`target`), and its date.

    `as_of` is the date of each window's last close; `last` is that close, the naive forecast.
    """

    ticker: np.ndarray  # N, str
    as_of: np.ndarray  # N, datetime64[D]
    target_date: np.ndarray  # N, datetime64[D]
    closes: np.ndarray  # N x W, float64
    target: np.ndarray  # N, float64
    bars: np.ndarray  # N x W x 3: open, high, low of each close's day; NaN where unknown

    def __len__(self) -> int:
        return int(self.target.shape[0])

    @property
    def last(self) -> np.ndarray:
        return self.closes[:, -1]

    def take(self, mask: np.ndarray) -> WindowSet:
        return WindowSet(*(getattr(self, f)[mask] for f in FIELDS))

    def for_ticker(self, ticker: str) -> WindowSet:
        return self.take(self.ticker == ticker)

    def span(self) -> str:
        """First..last target date, for logs and MLflow params."""
        if not len(self):
            return "empty"
        return f"{self.target_date.min()}..{self.target_date.max()}"


def make_windows(frame: pd.DataFrame, ticker: str, window: int) -> WindowSet:
    """Every window of `window` consecutive closes that has a next close to predict."""
    closes = frame["close"].to_numpy(dtype=np.float64)
    dates = frame["date"].to_numpy().astype("datetime64[D]")
    n = len(closes) - window
    if n <= 0:
        return empty_windows(window)
    view = np.lib.stride_tricks.sliding_window_view(closes, window)[:n]
    columns = [
        frame[c].to_numpy(dtype=np.float64) if c in frame else np.full(len(closes), np.nan)
        for c in BAR_COLUMNS
    ]
    bars = np.lib.stride_tricks.sliding_window_view(np.stack(columns, axis=-1), window, axis=0)
    return WindowSet(
        ticker=np.full(n, ticker, dtype=object),
        as_of=dates[window - 1 : window - 1 + n],
        target_date=dates[window:],
        closes=np.ascontiguousarray(view),
        target=closes[window:].copy(),
        bars=np.ascontiguousarray(bars[:n].transpose(0, 2, 1)),
    )


def empty_windows(window: int) -> WindowSet:
    return WindowSet(
        np.empty(0, dtype=object),
        np.empty(0, "datetime64[D]"),
        np.empty(0, "datetime64[D]"),
        np.empty((0, window)),
        np.empty(0),
        np.empty((0, window, len(BAR_COLUMNS))),
    )


def concat(sets: list[WindowSet]) -> WindowSet:
    if not sets:
        raise NotEnoughDataError("no windows: no ticker has enough closes")
    return WindowSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in FIELDS))


def split_windows(
    windows: WindowSet,
    *,
    train_fraction: float,
    valid_fraction: float,
    valid_start: date | None = None,
    test_start: date | None = None,
) -> dict[str, WindowSet]:
    """Chronological train/valid/test split by target date.

    With explicit dates, targets before `valid_start` train, those before `test_start`
    validate and the rest test. Otherwise each ticker splits by fractions of its windows.
    """
    if (valid_start is None) != (test_start is None):
        raise TrainingError("give both valid_start and test_start, or neither")
    if valid_start is not None and test_start is not None:
        if test_start <= valid_start:
            raise TrainingError(
                f"test_start {test_start} must come after valid_start {valid_start}"
            )
        vs, ts = np.datetime64(valid_start, "D"), np.datetime64(test_start, "D")
        labels = np.where(windows.target_date < vs, 0, np.where(windows.target_date < ts, 1, 2))
    else:
        labels = np.empty(len(windows), dtype=int)
        for ticker in np.unique(windows.ticker):
            idx = np.flatnonzero(windows.ticker == ticker)
            idx = idx[np.argsort(windows.target_date[idx], kind="stable")]
            n_train = round(len(idx) * train_fraction)
            n_valid = round(len(idx) * valid_fraction)
            labels[idx] = 2
            labels[idx[:n_train]] = 0
            labels[idx[n_train : n_train + n_valid]] = 1
    return {name: windows.take(labels == i) for i, name in enumerate(SPLITS)}
