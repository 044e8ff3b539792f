"""Predictor: a registered model loaded by alias or version, with its registry record.

Loaded from the local model cache (model.fetch): serving processes never import MLflow.

Forecasting goes through its `Forecaster`, the one forecast path of every caller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from core.config import Settings
from model.bundle import ModelBundle
from model.fetch import BUNDLE, chosen_at_start, fetch, read_record
from model.forecaster import Forecaster, Prediction, WindowInput
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
        champion is trained on them.

        The model comes from the local cache (model.fetch), filled by a child process that
        reads the registry, so this process never imports MLflow. Under `up`, the first load
        waits for the version `up` chose and fetched into the cache (`mlflow.start_choice`).
        """
        mlflow = settings.mlflow
        ref = ref or (mlflow.synthetic_alias if synthetic else mlflow.served)
        folder = chosen_at_start(settings, ref) or fetch(settings, ref)
        predictor = cls.from_cache(settings, folder)
        logger.info("loaded %s version %s (%s)", predictor.name, predictor.version, ref)
        return predictor

    @classmethod
    def from_cache(cls, settings: Settings, folder: Path) -> Predictor:
        """A version from its folder in the model cache: the bundle and its registry record."""
        record = read_record(folder)
        return cls(
            forecaster=Forecaster(
                ModelBundle.load(folder / BUNDLE),
                settings.mlflow.model_name,
                record.version,
                settings.forecast,
                settings.drift,
                record.trained_on,
            ),
            params=record.params,
            metrics=record.metrics,
            tags=record.tags,
            run_id=record.run_id,
            aliases=tuple(record.aliases),
            trained_at=record.trained_at,
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
