"""A network to train, beside the statistics it is trained with; once trained it becomes a
serving ModelBundle, its network exported to ONNX.

Calibration, scoring, registration and every forecast after training run the exported
network, so the figures logged with a model are those of the graph that serves it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from model.bundle import Calibration, ModelBundle, Network
from model.drift import ReturnBaseline
from model.export import to_onnx, weights_of
from model.features import FEATURES, ReturnScaler
from model.network import LSTMForecaster

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainableBundle:
    net: LSTMForecaster
    scaler: ReturnScaler
    window: int
    hparams: dict[str, Any]
    baselines: dict[str, ReturnBaseline]

    @classmethod
    def build(
        cls,
        window: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        scaler: ReturnScaler,
        baselines: dict[str, ReturnBaseline],
    ) -> TrainableBundle:
        hparams = {
            "input_size": len(FEATURES),
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
        }
        return cls(LSTMForecaster(**hparams), scaler, window, hparams, baselines)

    def serving(self, calibration: Calibration | None = None) -> ModelBundle:
        """The network as it stands, exported to ONNX, with its torch weights kept beside."""
        return ModelBundle(
            Network(to_onnx(self.net, self.window)),
            self.scaler,
            self.window,
            dict(self.hparams),
            self.baselines,
            calibration,
            weights_of(self.net),
        )
