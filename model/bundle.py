"""A trained model on disk: weights, hyperparameters, scaler and drift baseline, self-contained.

Everything needed to forecast is saved beside the weights, so loading needs nothing else.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.drift import ReturnBaseline
from model.errors import IncompatibleModelError
from model.features import FEATURES, ReturnScaler, returns_to_prices, window_features
from model.network import LSTMForecaster

WEIGHTS, CONFIG, BASELINE = "weights.pt", "config.json", "drift_baseline.json"
FORMAT_VERSION = 1


def trace_for_serving(net: LSTMForecaster, window: int, features: int) -> torch.jit.ScriptModule:
    """A traced, frozen copy of the network: same outputs, a quarter less call overhead."""
    example = torch.zeros(1, window - 1, features)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing warns about the LSTM's flatten_parameters
        return torch.jit.freeze(torch.jit.trace(net, example))


@dataclass(frozen=True)
class ModelBundle:
    net: LSTMForecaster
    scaler: ReturnScaler
    window: int
    hparams: dict[str, Any]
    baselines: dict[str, ReturnBaseline]
    runner: torch.jit.ScriptModule | None = None  # traced for serving; None while training

    @classmethod
    def build(
        cls,
        window: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        scaler: ReturnScaler,
        baselines: dict[str, ReturnBaseline],
    ) -> ModelBundle:
        hparams = {
            "input_size": len(FEATURES),
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
        }
        return cls(LSTMForecaster(**hparams), scaler, window, hparams, baselines)

    @torch.inference_mode()
    def predict_returns(self, windows: np.ndarray) -> np.ndarray:
        """Unscaled next log returns for validated N x window closes.

        Each window goes through the network as a batch of one: LSTM kernels round in the
        last bits differently with the batch's shape, and a forecast must not depend on what
        else arrived in its micro-batch. So every path gives the same bits for a window.
        """
        x = torch.from_numpy(window_features(windows, self.scaler))
        if self.runner is not None:
            run = self.runner
        else:
            self.net.eval()
            run = self.net
        scaled = torch.cat([run(row) for row in x.split(1)]) if len(x) else torch.empty(0)
        return self.scaler.inverse_transform(scaled.numpy())

    def predict_prices(self, windows: np.ndarray) -> np.ndarray:
        return returns_to_prices(windows[:, -1], self.predict_returns(windows))

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), directory / WEIGHTS)
        config = {
            "format_version": FORMAT_VERSION,
            "window": self.window,
            "features": list(FEATURES),
            "hparams": self.hparams,
            "scaler": self.scaler.to_dict(),
        }
        (directory / CONFIG).write_text(json.dumps(config, indent=2))
        baselines = {name: b.to_dict() for name, b in self.baselines.items()}
        (directory / BASELINE).write_text(json.dumps(baselines))
        return directory

    @classmethod
    def load(cls, directory: Path) -> ModelBundle:
        config = json.loads((directory / CONFIG).read_text())
        if config.get("format_version") != FORMAT_VERSION:
            raise IncompatibleModelError(
                f"{directory}: model format {config.get('format_version')} is not "
                f"{FORMAT_VERSION}; retrain it with this version of tickcast"
            )
        net = LSTMForecaster(**config["hparams"])
        net.load_state_dict(torch.load(directory / WEIGHTS, weights_only=True))
        net.eval()
        raw = json.loads((directory / BASELINE).read_text())
        baselines = {name: ReturnBaseline.from_dict(data) for name, data in raw.items()}
        scaler = ReturnScaler(**config["scaler"])
        return cls(
            net,
            scaler,
            int(config["window"]),
            dict(config["hparams"]),
            baselines,
            runner=trace_for_serving(net, int(config["window"]), len(config["features"])),
        )
