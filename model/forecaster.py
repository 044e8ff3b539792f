"""The one forecast path: windows in; validated, forecast, dated and drift-checked out.

The Faust worker, both backtest engines, POST /predict and /predict/batch, and the Predictor
all call `Forecaster.forecast`, so a change to what a forecast is happens here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from core.config import DriftSettings, ForecastSettings
from model.bundle import ModelBundle
from model.drift import assess_drift
from model.errors import InvalidWindowError
from model.features import returns_to_prices
from producers.calendar import next_trading_day
from schemas.drift import DriftReport


@dataclass(frozen=True)
class WindowInput:
    """One window to forecast: its closes (oldest first), and optionally whose and when."""

    closes: Sequence[float] | np.ndarray
    ticker: str | None = None
    as_of: date | None = None  # date of the last close; gives the target date


@dataclass(frozen=True)
class Prediction:
    """One forecast as plain values; each edge turns it into its own contract."""

    ticker: str | None
    as_of: date | None
    target_date: date | None
    last_close: float
    predicted_close: float
    predicted_return: float  # log(predicted_close / last_close)
    drift: DriftReport


def _check_rows(windows: list | tuple, window: int) -> None:
    if not windows:
        raise InvalidWindowError("no windows to forecast")
    for i, row in enumerate(windows):
        where = f"window {i}: " if len(windows) > 1 else ""
        if not isinstance(row, (list, tuple, np.ndarray)):
            raise InvalidWindowError(
                f"expected a list of windows (N x {window} prices); item {i} is not a list"
            )
        if len(row) != window:
            raise InvalidWindowError(
                f"{where}the model reads exactly {window} prices; got {len(row)} prices"
            )


def validate_windows(windows: Any, window: int, max_price: float = float("inf")) -> np.ndarray:
    """N x `window` finite, positive, plausible closes as float64; else InvalidWindowError."""
    if isinstance(windows, (list, tuple)):
        _check_rows(windows, window)
    array = np.asarray(windows)
    if array.dtype.kind not in "iuf":
        raise InvalidWindowError(f"prices must be numbers, got {array.dtype.name} values")
    array = array.astype(np.float64, copy=False)
    if array.ndim != 2:
        raise InvalidWindowError(
            f"expected a list of windows (N x {window} prices), "
            f"got an array of {array.ndim} dimensions"
        )
    if array.shape[0] == 0:
        raise InvalidWindowError("no windows to forecast")
    if array.shape[1] != window:
        raise InvalidWindowError(
            f"the model reads exactly {window} prices; got {array.shape[1]} prices"
        )
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InvalidWindowError(
            f"window {row}, price {col} is {array[row, col]}; prices must be finite numbers"
        )
    if (array <= 0).any():
        row, col = np.argwhere(array <= 0)[0]
        raise InvalidWindowError(
            f"window {row}, price {col} is {array[row, col]:g}; prices must be positive"
        )
    if (array > max_price).any():
        row = int(np.argwhere(array > max_price)[0][0])
        where = f"window {row}: " if array.shape[0] > 1 else ""
        raise InvalidWindowError(f"{where}prices above {max_price:g} are not plausible")
    return array


@dataclass(frozen=True)
class Forecaster:
    """One model version turning windows into forecasts; immutable, so swap it whole."""

    bundle: ModelBundle
    name: str
    version: str
    settings: ForecastSettings
    drift: DriftSettings

    @property
    def window(self) -> int:
        """Closes per window: the loaded model's, never the configured one."""
        return self.bundle.window

    def validate(self, windows: Any) -> np.ndarray:
        return validate_windows(windows, self.window, self.settings.max_price)

    def forecast(self, inputs: Sequence[WindowInput]) -> list[Prediction]:
        """Validate every window, forecast all in one pass, date them, assess drift."""
        closes = self.validate([item.closes for item in inputs])
        returns = self.bundle.predict_returns(closes)
        prices = returns_to_prices(closes[:, -1], returns)
        if not np.all(np.isfinite(prices)):
            raise InvalidWindowError("these prices give no finite forecast; check the window")
        return [
            Prediction(
                ticker=item.ticker,
                as_of=item.as_of,
                target_date=next_trading_day(item.as_of) if item.as_of else None,
                last_close=float(window[-1]),
                predicted_close=price,
                predicted_return=ret,
                drift=assess_drift(window, self.bundle.baselines, self.drift, item.ticker),
            )
            for item, window, ret, price in zip(
                inputs, closes, returns.tolist(), prices.tolist(), strict=True
            )
        ]
