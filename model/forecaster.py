"""The one forecast path: windows in; validated, forecast, dated, drift-checked and given
calibrated quantiles out.

The Faust worker, both backtest engines, POST /predict and /predict/batch, and the Predictor
all call `Forecaster.forecast`, so a change to what a forecast is happens here, once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np

from core.config import DriftSettings, ForecastSettings
from model.bundle import Calibration, ModelBundle
from model.drift import assess_drift_many
from model.errors import IncompatibleModelError, InvalidWindowError
from model.features import returns_to_prices
from model.intervals import (
    LEVELS,
    central_coverages,
    conformal_quantile,
    coverage_of,
    level_key,
)
from producers.calendar import FIRST_DAY, LAST_DAY, next_trading_day
from schemas.drift import DriftReport
from schemas.messages import PriceTick, TrainedOn


@dataclass(frozen=True)
class WindowInput:
    """One window to forecast: its closes (oldest first), and optionally whose and when."""

    closes: Sequence[float] | np.ndarray
    ticker: str | None = None
    as_of: date | None = None  # date of the last close; gives the target date
    bars: np.ndarray | None = None  # window x 3: open, high, low; NaN where unknown


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
    quantiles: dict[str, float]  # next close by level ("0.1" -> price)
    return_quantiles: dict[str, float]  # the same levels as log returns
    volatility: float  # predicted std of the next log return
    interval_method: str  # "split-conformal" or "aci"
    radii: tuple[float, ...]  # per central interval, its half-width about predicted_return
    location: float  # the network's own location, before shrinking toward naive
    scale: float  # the network's scale of the next log return
    ranged: bool  # every day of the window had open, high and low: the ranged calibration


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


def validate_windows(
    windows: Any, window: int, max_price: float = float("inf"), min_price: float = 0.0
) -> np.ndarray:
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
    if (array < min_price).any():
        row = int(np.argwhere(array < min_price)[0][0])
        where = f"window {row}: " if array.shape[0] > 1 else ""
        raise InvalidWindowError(f"{where}prices below {min_price:g} are not plausible")
    return array


def tick_problem(tick: PriceTick, settings: ForecastSettings) -> str | None:
    """Why a close must not reach a window, or None: a date the B3 calendar does not cover,
    or a price (close, open, high or low) that is not finite, positive and inside the
    plausible bounds. The stream dead-letters such a close and the API's feed drops it, by
    the rules a /predict window is held to."""
    if not FIRST_DAY <= tick.date <= LAST_DAY:
        return (
            f"date {tick.date.isoformat()} is outside the trading calendar "
            f"({FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()})"
        )
    for name in ("close", "open", "high", "low"):
        value = getattr(tick, name)
        if value is None:
            continue
        if not math.isfinite(value) or value <= 0:
            return f"{name} {value!r} is not a finite positive price"
        if not settings.min_price <= value <= settings.max_price:
            return (
                f"{name} {value:g} is outside the plausible prices "
                f"{settings.min_price:g}..{settings.max_price:g}"
            )
    return None


@dataclass(frozen=True)
class Forecaster:
    """One model version turning windows into forecasts; immutable, so swap it whole."""

    bundle: ModelBundle
    name: str
    version: str
    settings: ForecastSettings
    drift: DriftSettings
    trained_on: TrainedOn | None = None  # carried into every forecast it makes

    @property
    def window(self) -> int:
        """Closes per window: the loaded model's, never the configured one."""
        return self.bundle.window

    def validate(self, windows: Any) -> np.ndarray:
        return validate_windows(
            windows, self.window, self.settings.max_price, self.settings.min_price
        )

    @cached_property
    def levels(self) -> np.ndarray:
        """The five standard quantile levels, and any others the settings add, sorted."""
        return np.array(sorted({*LEVELS, *self.settings.extra_levels}))

    @cached_property
    def level_keys(self) -> list[str]:
        return [level_key(level) for level in self.levels]

    @cached_property
    def coverages(self) -> tuple[float, ...]:
        """The central intervals the levels bound (0.8 for 0.1 and 0.9), narrowest first."""
        return central_coverages(self.levels.tolist())

    @cached_property
    def _layout(self) -> list[tuple[float, int]]:
        """Per level: its side of the point (-1, 0, +1), and which radius it takes (0: none)."""
        return [
            (math.copysign(1.0, level - 0.5), 1 + self.coverages.index(coverage_of(level)))
            if level != 0.5
            else (0.0, 0)
            for level in self.levels.tolist()
        ]

    def _bars(self, inputs: Sequence[WindowInput]) -> np.ndarray | None:
        if all(item.bars is None for item in inputs):
            return None
        bars = np.full((len(inputs), self.window, 3), np.nan)
        for i, item in enumerate(inputs):
            if item.bars is not None:
                given = np.asarray(item.bars, dtype=np.float64)
                if given.shape != (self.window, 3):
                    raise InvalidWindowError(
                        f"window {i}: open, high and low need {self.window} values each"
                    )
                bars[i] = given
        return bars

    def _calibration(self) -> Calibration:
        if self.bundle.calibration is None:
            raise IncompatibleModelError("this model has no calibration; retrain it")
        return self.bundle.calibration

    def _quantiles(
        self, point: float, scale: float, ranged: bool, last: float, coverages: Sequence[float]
    ) -> tuple[dict[str, float], dict[str, float], tuple[float, ...]]:
        """Close and return quantiles at the nominal levels' keys, and each interval's radius.

        Intervals are symmetric about the point: the one of nominal coverage c reaches
        scale x the conformal c-quantile of |residual| / scale, read at `coverages` (the
        nominal ones, or the stream's ACI-moved ones). The 0.5 level is the point itself.
        Plain floats: a handful of numbers per forecast, where numpy's per-call cost was most
        of the work. Sorting keeps the levels from crossing (ACI may move one interval past
        another), and never worsens the pinball loss.
        """
        magnitudes = self._calibration().magnitudes(ranged)
        radii = (0.0, *(scale * conformal_quantile(magnitudes, c) for c in coverages))
        returns = sorted(point + side * radii[which] for side, which in self._layout)
        keys = self.level_keys
        closes = [last * math.exp(value) for value in returns]
        return (
            dict(zip(keys, closes, strict=True)),
            dict(zip(keys, returns, strict=True)),
            radii[1:],
        )

    def forecast(
        self, inputs: Sequence[WindowInput], *, intervals: bool = True
    ) -> list[Prediction]:
        """Validate every window, forecast all in one pass, date them, assess drift, and give
        each split conformal quantiles.

        The stream reads each forecast's quantiles at its ticker's adaptive levels instead
        (`at_coverages`, in message order), so it asks for none here (`intervals=False`).
        """
        calibration = self._calibration()
        closes = self.validate([item.closes for item in inputs])
        distribution = self.bundle.predict_distribution(closes, self._bars(inputs))
        points = calibration.shrink * distribution.location
        prices = returns_to_prices(closes[:, -1], points)
        if not np.all(np.isfinite(prices)):
            raise InvalidWindowError("these prices give no finite forecast; check the window")
        drifts = assess_drift_many(
            closes, self.bundle.baselines, self.drift, [item.ticker for item in inputs]
        )
        predictions = []
        for i, item in enumerate(inputs):
            ranged, scale = bool(distribution.ranged[i]), float(distribution.scale[i])
            last = float(closes[i, -1])
            quantiles, returns, radii = (
                self._quantiles(float(points[i]), scale, ranged, last, self.coverages)
                if intervals
                else ({}, {}, ())
            )
            predictions.append(
                Prediction(
                    ticker=item.ticker,
                    as_of=item.as_of,
                    target_date=next_trading_day(item.as_of) if item.as_of else None,
                    last_close=last,
                    predicted_close=float(prices[i]),
                    predicted_return=float(points[i]),
                    drift=drifts[i],
                    quantiles=quantiles,
                    return_quantiles=returns,
                    volatility=scale * calibration.spread(ranged),
                    interval_method="split-conformal",
                    radii=radii,
                    location=float(distribution.location[i]),
                    scale=scale,
                    ranged=ranged,
                )
            )
        return predictions

    def at_coverages(self, prediction: Prediction, coverages: Sequence[float]) -> Prediction:
        """The same forecast with its intervals read at the stream's adaptive (ACI) coverages,
        one per entry of `self.coverages`."""
        quantiles, returns, radii = self._quantiles(
            prediction.predicted_return,
            prediction.scale,
            prediction.ranged,
            prediction.last_close,
            coverages,
        )
        # dataclasses.replace, without its walk over the fields: once per forecast on the stream
        moved = object.__new__(Prediction)
        moved.__dict__.update(
            prediction.__dict__,
            quantiles=quantiles,
            return_quantiles=returns,
            radii=radii,
            interval_method="aci",
        )
        return moved
