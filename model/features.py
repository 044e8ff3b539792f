"""Scale-free inputs and targets: log returns, standardised with statistics fit on train only.

A window of closes becomes its log returns (the level cancels), so a model trained on 2018
prices reads a 2024 window, or another ticker's, the same way. The target is the next log
return; a forecast goes back to a price as last_close * exp(return).

Volatility clusters, so each day also brings a variance proxy: where the bar has open, high
and low, the overnight gap squared plus the Garman-Klass range estimator (far less noisy than
a squared return); otherwise the squared close-to-close return. Both estimate the day's
variance without bias, so a window may mix them and closes alone still work.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from model.errors import NotEnoughDataError, TrainingError

FEATURES = ("return", "level", "variance")  # channels of each time step
PRIOR = ("ewma", "day", "week", "month")  # per window: the scale prior and HAR-style terms
MIN_STD = 1e-12  # below this, returns are constant up to rounding and cannot be standardised
EWMA_LAMBDA = 0.94  # RiskMetrics decay of the variance prior
VARIANCE_FLOOR = 0.05  # share of the training variance added before logs: a flat day is not -inf
GK_CLOSE = 2.0 * math.log(2.0) - 1.0  # Garman-Klass weight of the open-to-close term
WEEK, MONTH = 5, 22  # sessions in the HAR-style averages


def log_returns(closes: np.ndarray) -> np.ndarray:
    """Log returns along the last axis: W closes give W-1 returns."""
    closes = np.asarray(closes, dtype=np.float64)
    return np.diff(np.log(closes), axis=-1)


def returns_to_prices(last_close: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """Inverse of the target transform: the price after `returns` from `last_close`."""
    return np.asarray(last_close, dtype=np.float64) * np.exp(np.asarray(returns, np.float64))


def daily_variance(closes: np.ndarray, bars: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per step, an estimate of that day's return variance: N x W closes -> N x (W-1).

    `bars` (N x W x 3: open, high, low; NaN where unknown) gives overnight gap squared plus
    Garman-Klass; a day without a consistent bar falls back to its squared return. Also
    returns which days had a consistent bar.
    """
    closes = np.asarray(closes, dtype=np.float64)
    squared = log_returns(closes) ** 2
    if bars is None:
        return squared, np.zeros(squared.shape, dtype=bool)
    bars = np.asarray(bars, dtype=np.float64)
    opens, highs, lows = bars[..., 1:, 0], bars[..., 1:, 1], bars[..., 1:, 2]
    close, previous = closes[..., 1:], closes[..., :-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        consistent = (
            np.isfinite(opens + highs + lows)
            & (lows > 0)
            & (highs >= np.maximum(opens, close))
            & (lows <= np.minimum(opens, close))
        )
        overnight = np.log(opens / previous) ** 2
        range_part = 0.5 * np.log(highs / lows) ** 2 - GK_CLOSE * np.log(close / opens) ** 2
        estimate = overnight + np.maximum(range_part, 0.0)
    return np.where(consistent, estimate, squared), consistent


def scale_prior(variance: np.ndarray, floor: float) -> np.ndarray:
    """N x (W-1) daily variances -> N x 4: log EWMA sd, then day/week/month log-ratios to it.

    The EWMA (lambda 0.94) starts at the window's mean variance; over 59 days its start weighs
    under 3%. The ratios are the terms of a HAR model, so the network's scale head starts as a
    volatility forecaster that training only has to correct.
    """
    variance = np.asarray(variance, dtype=np.float64) + floor
    steps = variance.shape[-1]
    # The recursion e <- lambda e + (1 - lambda) v, unrolled into one weighted sum.
    weights = (1.0 - EWMA_LAMBDA) * EWMA_LAMBDA ** np.arange(steps - 1, -1, -1.0)
    ewma = EWMA_LAMBDA**steps * variance.mean(axis=-1) + variance @ weights
    log_ewma = np.log(ewma)
    day = np.log(variance[..., -1]) - log_ewma
    week = np.log(variance[..., -WEEK:].mean(axis=-1)) - log_ewma
    month = np.log(variance[..., -MONTH:].mean(axis=-1)) - log_ewma
    return np.stack([0.5 * log_ewma, day, week, month], axis=-1)


@dataclass(frozen=True)
class ReturnScaler:
    """Standardises log returns; mean and std come from training returns only."""

    mean: float
    std: float

    @classmethod
    def fit(cls, returns: np.ndarray) -> ReturnScaler:
        values = np.asarray(returns, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size < 2:
            raise NotEnoughDataError("need at least two finite returns to fit the scaler")
        std = float(values.std())
        if not std > MIN_STD:
            raise TrainingError(
                "training returns have zero variance: "
                "the prices never move, or move at a constant rate"
            )
        return cls(mean=float(values.mean()), std=std)

    def transform(self, returns: np.ndarray) -> np.ndarray:
        return (np.asarray(returns, dtype=np.float64) - self.mean) / self.std

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        return np.asarray(scaled, dtype=np.float64) * self.std + self.mean

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def window_features(
    windows: np.ndarray,
    scaler: ReturnScaler,
    bars: np.ndarray | None = None,
    dtype: type = np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N x W closes (and bars) -> steps N x (W-1) x 3, the scale prior N x 4, and whether
    every day of each window had a consistent bar (N, bool).

    Channels: scaled returns; log distance to the last close in units of a typical daily
    move (the window over its last close, made scale-free); log daily variance relative to
    the window's EWMA variance. The prior is in units of the training return std.
    """
    windows = np.asarray(windows, dtype=np.float64)
    returns = log_returns(windows)
    level = np.log(windows[:, 1:] / windows[:, -1:]) / (scaler.std * np.sqrt(returns.shape[-1]))
    train_variance = scaler.std**2
    variance, consistent = daily_variance(windows, bars)
    variance = variance / train_variance
    prior = scale_prior(variance, VARIANCE_FLOOR)
    # Each day's variance relative to the window's own EWMA (2 x the log sd prior): the level
    # of volatility reaches the network only through the prior, never anchored to the
    # training years' level, which pulled every forecast in calm 2024 toward the 2020 crash.
    relative = np.log(variance + VARIANCE_FLOOR) - 2.0 * prior[:, :1]
    steps = np.stack([scaler.transform(returns), level, relative], axis=-1)
    return steps.astype(dtype), prior.astype(dtype), consistent.all(axis=-1)


def window_targets(
    last_close: np.ndarray, next_close: np.ndarray, scaler: ReturnScaler
) -> np.ndarray:
    """The scaled next log return each window should predict."""
    returns = np.log(np.asarray(next_close, np.float64) / np.asarray(last_close, np.float64))
    return scaler.transform(returns).astype(np.float32)
