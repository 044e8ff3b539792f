"""Scale-free inputs and targets: log returns, standardised with statistics fit on train only.

A window of closes becomes its log returns (the level cancels), so a model trained on 2018
prices reads a 2024 window, or another ticker's, the same way. The target is the next log
return; a forecast goes back to a price as last_close * exp(return).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from model.errors import NotEnoughDataError, TrainingError

FEATURES = ("return", "level")  # channels of each time step
MIN_STD = 1e-12  # below this, returns are constant up to rounding and cannot be standardised


def log_returns(closes: np.ndarray) -> np.ndarray:
    """Log returns along the last axis: W closes give W-1 returns."""
    closes = np.asarray(closes, dtype=np.float64)
    return np.diff(np.log(closes), axis=-1)


def returns_to_prices(last_close: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """Inverse of the target transform: the price after `returns` from `last_close`."""
    return np.asarray(last_close, dtype=np.float64) * np.exp(np.asarray(returns, np.float64))


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
    windows: np.ndarray, scaler: ReturnScaler, dtype: type = np.float32
) -> np.ndarray:
    """N x W closes -> N x (W-1) x 2: scaled returns, and log distance to the last close.

    The second channel tells where each past close sits relative to today, in units of a
    typical daily move; it is the window divided by its last close, made scale-free.
    """
    windows = np.asarray(windows, dtype=np.float64)
    returns = log_returns(windows)
    level = np.log(windows[:, 1:] / windows[:, -1:]) / (scaler.std * np.sqrt(returns.shape[-1]))
    return np.stack([scaler.transform(returns), level], axis=-1).astype(dtype)


def window_targets(
    last_close: np.ndarray, next_close: np.ndarray, scaler: ReturnScaler
) -> np.ndarray:
    """The scaled next log return each window should predict."""
    returns = np.log(np.asarray(next_close, np.float64) / np.asarray(last_close, np.float64))
    return scaler.transform(returns).astype(np.float32)
