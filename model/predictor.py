"""Predictor: a registered model loaded by alias or version, with its registry record.

Forecasting goes through its `Forecaster`, the one forecast path of every caller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core.config import Settings
from model.bundle import ModelBundle
from model.forecaster import Forecaster, Prediction, WindowInput
from model.registry import connect, fetch
from schemas.messages import TrainedOn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Predictor:
    """One model version and what MLflow knows of it; immutable, so swap the object."""

    forecaster: Forecaster
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    run_id: str | None = None
    aliases: tuple[str, ...] = ()
    trained_at: datetime | None = None

    @classmethod
    def load(
        cls, settings: Settings, ref: str | None = None, *, synthetic: bool = False
    ) -> Predictor:
        """Load `ref` (an alias or a version number). By default: `mlflow.served` (the
        champion unless configured), or for `synthetic` prices the synthetic alias, since no
        champion is trained on them."""
        client = connect(settings.mlflow)
        ref = ref or (settings.mlflow.synthetic_alias if synthetic else settings.mlflow.served)
        fetched = fetch(client, settings.mlflow.model_name, ref)
        version = str(fetched.version.version)
        logger.info("loaded %s version %s (%s)", settings.mlflow.model_name, version, ref)
        return cls(
            forecaster=Forecaster(
                fetched.bundle,
                settings.mlflow.model_name,
                version,
                settings.forecast,
                settings.drift,
                fetched.trained_on,
            ),
            params=fetched.params,
            metrics=fetched.metrics,
            tags=fetched.tags,
            run_id=fetched.version.run_id,
            aliases=tuple(fetched.version.aliases or ()),
            trained_at=fetched.trained_at,
        )

    @property
    def trained_on(self) -> TrainedOn | None:
        return self.forecaster.trained_on

    @property
    def name(self) -> str:
        return self.forecaster.name

    @property
    def version(self) -> str:
        return self.forecaster.version

    @property
    def window(self) -> int:
        return self.forecaster.window

    @property
    def bundle(self) -> ModelBundle:
        return self.forecaster.bundle

    def forecast(self, inputs: Sequence[WindowInput]) -> list[Prediction]:
        return self.forecaster.forecast(inputs)

    def predict(
        self,
        windows: Sequence[Sequence[float]] | np.ndarray,
        bars: Sequence[np.ndarray | None] | np.ndarray | None = None,
    ) -> np.ndarray:
        """N next-close forecasts for N x window closes (and optionally each window's bars)."""
        rows = windows if isinstance(windows, np.ndarray) else list(windows)
        ohlc = [None] * len(rows) if bars is None else list(bars)
        inputs = [WindowInput(row, bars=bar) for row, bar in zip(rows, ohlc, strict=True)]
        return np.array([p.predicted_close for p in self.forecaster.forecast(inputs)])
