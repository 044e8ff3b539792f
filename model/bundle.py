"""A trained model on disk: weights, hyperparameters, scaler, drift baseline and calibration.

Everything needed to forecast is saved beside the weights, so loading needs nothing else.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.drift import ReturnBaseline
from model.errors import IncompatibleModelError
from model.features import FEATURES, PRIOR, ReturnScaler, returns_to_prices, window_features
from model.network import LSTMForecaster

WEIGHTS, CONFIG, BASELINE, CALIBRATION = (
    "weights.pt",
    "config.json",
    "drift_baseline.json",
    "calibration.json",
)
# 2: location and scale, daily ranges, split conformal calibration;
# 3: each day's variance read relative to the window's EWMA (model.features)
FORMAT_VERSION = 3


@dataclass(frozen=True)
class Calibration:
    """Fit on the validation split after training: how far to trust the network's location,
    and the standardised residuals that split conformal turns into quantiles.

    Intervals are symmetric about the point, from the residuals' magnitudes (the usual split
    conformal score |y - point| / scale): signed residuals carried the validation year's
    drift into every interval (in 2023 their median was +0.06 scale), which the point forecast
    deliberately leaves out.

    `ranged` holds residuals of windows whose days all had open, high and low; `close_only`
    those of the same windows read from closes alone, so both kinds of input are calibrated.
    """

    shrink: float  # weight of the network's location in the point forecast; 0 is naive
    ranged: np.ndarray  # sorted residuals (actual - point) / scale
    close_only: np.ndarray

    def scores(self, ranged: bool) -> np.ndarray:
        return self.ranged if ranged else self.close_only

    def magnitudes(self, ranged: bool) -> tuple[float, ...]:
        """Sorted |residual| / scale, the conformity scores of the symmetric intervals, as
        plain floats: every forecast reads from them (`conformal_quantile_one`)."""
        return self._magnitudes[ranged]

    @cached_property
    def _magnitudes(self) -> dict[bool, tuple[float, ...]]:
        return {kind: tuple(np.sort(np.abs(self.scores(kind))).tolist()) for kind in (True, False)}

    def spread(self, ranged: bool) -> float:
        """Std of the residuals: scale times this is the predicted std of the return."""
        return self._spreads[ranged]

    @cached_property
    def _spreads(self) -> dict[bool, float]:
        return {kind: float(np.std(self.scores(kind), ddof=1)) for kind in (True, False)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "shrink": self.shrink,
            "ranged": self.ranged.tolist(),
            "close_only": self.close_only.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            float(data["shrink"]),
            np.sort(np.asarray(data["ranged"], dtype=np.float64)),
            np.sort(np.asarray(data["close_only"], dtype=np.float64)),
        )


@dataclass(frozen=True)
class Distribution:
    """The network's view of each window's next log return, unscaled."""

    location: np.ndarray  # N
    scale: np.ndarray  # N, a scale, not the std: calibration gives the spread
    ranged: np.ndarray  # N, bool: every day of the window had a consistent bar


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one intra-op thread inside. A batch of one gains nothing from more, and on
    this 2-core machine two threads made each window's pass 1,000x slower (0.13 ms -> 180 ms)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: torch.jit.trace and freeze are not thread-safe: two models traced at once (parallel API
#: reloads) failed about half the time. One trace at a time per process.
_TRACING = threading.Lock()


def trace_for_serving(net: LSTMForecaster, window: int) -> torch.jit.ScriptModule:
    """A traced, frozen copy of the network: same outputs, a quarter less call overhead."""
    example = (torch.zeros(1, window - 1, len(FEATURES)), torch.zeros(1, len(PRIOR)))
    with _TRACING, torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing warns about the LSTM's flatten_parameters
        return torch.jit.freeze(torch.jit.trace(net, example))


@dataclass(frozen=True)
class ModelBundle:
    net: LSTMForecaster
    scaler: ReturnScaler
    window: int
    hparams: dict[str, Any]
    baselines: dict[str, ReturnBaseline]
    calibration: Calibration | None = None  # None until fit on the validation split
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

    def calibrated(self, calibration: Calibration) -> ModelBundle:
        return replace(self, calibration=calibration)

    @torch.inference_mode()
    def predict_distribution(
        self, windows: np.ndarray, bars: np.ndarray | None = None
    ) -> Distribution:
        """Location and scale of the next log return of validated N x window closes.

        Each window goes through the network as a batch of one: LSTM kernels round in the
        last bits differently with the batch's shape, and a forecast must not depend on what
        else arrived in its micro-batch. So every path gives the same bits for a window.
        """
        steps, prior, ranged = window_features(windows, self.scaler, bars)
        if self.runner is not None:
            run = self.runner
        else:
            self.net.eval()
            run = self.net
        x, p = torch.from_numpy(steps), torch.from_numpy(prior)
        with one_thread():
            rows = [run(x[i : i + 1], p[i : i + 1]) for i in range(len(x))]
        out = torch.cat(rows).numpy().astype(np.float64) if rows else np.empty((0, 2))
        return Distribution(
            location=self.scaler.inverse_transform(out[:, 0]),
            scale=np.exp(out[:, 1]) * self.scaler.std,
            ranged=ranged,
        )

    def predict_returns(self, windows: np.ndarray, bars: np.ndarray | None = None) -> np.ndarray:
        """The shipped point forecast: the network's location, shrunk toward naive."""
        location = self.predict_distribution(windows, bars).location
        shrink = self.calibration.shrink if self.calibration else 1.0
        return shrink * location

    def predict_prices(self, windows: np.ndarray, bars: np.ndarray | None = None) -> np.ndarray:
        return returns_to_prices(windows[:, -1], self.predict_returns(windows, bars))

    def save(self, directory: Path) -> Path:
        if self.calibration is None:
            raise IncompatibleModelError("a model is saved only once it is calibrated")
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
        (directory / CALIBRATION).write_text(json.dumps(self.calibration.to_dict()))
        return directory

    @classmethod
    def load(cls, directory: Path) -> ModelBundle:
        config = json.loads((directory / CONFIG).read_text())
        if config.get("format_version") != FORMAT_VERSION:
            raise IncompatibleModelError(
                f"{directory}: model format {config.get('format_version')} is not "
                f"{FORMAT_VERSION}; retrain it with this version of tickcast (`tickcast train`)"
            )
        net = LSTMForecaster(**config["hparams"])
        net.load_state_dict(torch.load(directory / WEIGHTS, weights_only=True))
        net.eval()
        raw = json.loads((directory / BASELINE).read_text())
        baselines = {name: ReturnBaseline.from_dict(data) for name, data in raw.items()}
        calibration = Calibration.from_dict(json.loads((directory / CALIBRATION).read_text()))
        return cls(
            net,
            ReturnScaler(**config["scaler"]),
            int(config["window"]),
            dict(config["hparams"]),
            baselines,
            calibration,
            runner=trace_for_serving(net, int(config["window"])),
        )
