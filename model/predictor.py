"""Predictor: a registered model loaded by alias or version, forecasting batches of windows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from model.bundle import ModelBundle
from model.drift import ReturnBaseline, assess_drift
from model.errors import InvalidWindowError
from model.registry import connect, fetch
from schemas.drift import DriftReport
from tickcast.config import DriftSettings, Settings

logger = logging.getLogger(__name__)


def validate_windows(windows: Any, window: int) -> np.ndarray:
    """N x `window` finite, positive closes as float64; else InvalidWindowError saying why."""
    if isinstance(windows, (list, tuple)):
        if not windows:
            raise InvalidWindowError("no windows to forecast")
        for i, row in enumerate(windows):
            if not isinstance(row, (list, tuple, np.ndarray)):
                raise InvalidWindowError(
                    f"expected a list of windows (N x {window} prices); item {i} is not a list"
                )
            if len(row) != window:
                raise InvalidWindowError(
                    f"window {i} has {len(row)} prices; each window needs exactly {window}"
                )
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
        raise InvalidWindowError(f"each window needs exactly {window} prices; got {array.shape[1]}")
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
    return array


@dataclass(frozen=True)
class Predictor:
    """Forecasts next closes with one model version; immutable, so swap the object to upgrade."""

    name: str
    version: str
    bundle: ModelBundle
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    run_id: str | None = None
    aliases: tuple[str, ...] = ()
    trained_at: datetime | None = None

    @classmethod
    def load(cls, settings: Settings, ref: str | None = None) -> Predictor:
        """Load `ref` (an alias or a version number; default: the champion alias)."""
        client = connect(settings.mlflow)
        ref = ref or settings.mlflow.champion_alias
        fetched = fetch(client, settings.mlflow.model_name, ref)
        logger.info(
            "loaded %s version %s (%s)", settings.mlflow.model_name, fetched.version.version, ref
        )
        return cls(
            name=settings.mlflow.model_name,
            version=str(fetched.version.version),
            bundle=fetched.bundle,
            params=fetched.params,
            metrics=fetched.metrics,
            tags=fetched.tags,
            run_id=fetched.version.run_id,
            aliases=tuple(fetched.version.aliases or ()),
            trained_at=fetched.trained_at,
        )

    @property
    def window(self) -> int:
        return self.bundle.window

    @property
    def drift_baseline(self) -> dict[str, ReturnBaseline]:
        return self.bundle.baselines

    def predict(self, windows: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """N next-close forecasts for N x window closes, in one batched forward pass."""
        return self.bundle.predict_prices(validate_windows(windows, self.window))

    def predict_returns(self, windows: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """N forecast log returns (next close over last close)."""
        return self.bundle.predict_returns(validate_windows(windows, self.window))

    def drift(
        self, window: Sequence[float], thresholds: DriftSettings, ticker: str | None = None
    ) -> DriftReport:
        """Drift statistics of one window against this model's training baseline."""
        closes = validate_windows([window], self.window)[0]
        return assess_drift(closes, self.bundle.baselines, thresholds, ticker)
