"""A trained model on disk: the network in ONNX, hyperparameters, scaler, drift baseline and
calibration.

Everything needed to forecast is saved beside the network, so loading needs nothing else.
Serving runs the network with ONNX Runtime and never imports torch: training and the export
to ONNX are the torch side (model.trainable, model.export).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from model.drift import ReturnBaseline
from model.errors import IncompatibleModelError
from model.features import FEATURES, ReturnScaler, returns_to_prices, window_features

logger = logging.getLogger(__name__)

NETWORK, WEIGHTS, CONFIG, BASELINE, CALIBRATION = (
    "model.onnx",
    "weights.pt",
    "config.json",
    "drift_baseline.json",
    "calibration.json",
)
# 2: location and scale, daily ranges, split conformal calibration;
# 3: each day's variance read relative to the window's EWMA (model.features). The ONNX
# network joined format 3 later: a bundle saved without it is exported once, on load.
FORMAT_VERSION = 3
STEPS_INPUT, PRIOR_INPUT, OUTPUT = "steps", "prior", "out"  # the ONNX graph's names
# One intra-op thread: on the 2-core build machines a second would take the core the event
# loop (worker, API) needs, for 20 -> 11 ms on 1,000 windows. And on one thread a window's
# outputs have the same bits whatever batch it runs in (checked on 7,457 real windows in 80
# batch sizes up to 4,096; tests/model/test_onnx.py keeps checking), so a micro-batch runs in
# one call and every caller still gets the same forecast for a window.
SERVING_THREADS = 1


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


class Network:
    """The network as ONNX and its ONNX Runtime session: N x (W-1) x 3 steps and N x 4 prior
    in (float32), N x 2 out: location and log scale, in units of the training return std."""

    def __init__(self, model: bytes) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = SERVING_THREADS
        options.inter_op_num_threads = SERVING_THREADS
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.model = model
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def __call__(self, steps: np.ndarray, prior: np.ndarray) -> np.ndarray:
        if not len(steps):
            return np.empty((0, 2), dtype=np.float32)
        return self.session.run([OUTPUT], {STEPS_INPUT: steps, PRIOR_INPUT: prior})[0]

    def __reduce__(self) -> tuple[type[Network], tuple[bytes]]:
        return Network, (self.model,)  # a session does not pickle; its model does


@dataclass(frozen=True)
class ModelBundle:
    network: Network
    scaler: ReturnScaler
    window: int
    hparams: dict[str, Any]
    baselines: dict[str, ReturnBaseline]
    calibration: Calibration | None = None  # None until fit on the validation split
    weights: bytes | None = None  # torch's state dict as saved, for torch tools; never served

    def calibrated(self, calibration: Calibration) -> ModelBundle:
        return replace(self, calibration=calibration)

    def predict_distribution(
        self, windows: np.ndarray, bars: np.ndarray | None = None
    ) -> Distribution:
        """Location and scale of the next log return of validated N x window closes.

        All windows go through the network in one call: on one thread ONNX Runtime gives a
        window the same bits whatever else is in its batch (SERVING_THREADS), so a forecast
        does not depend on what arrived in its micro-batch, and every path agrees to the bit.
        """
        steps, prior, ranged = window_features(windows, self.scaler, bars)
        out = self.network(steps, prior).astype(np.float64)
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
        (directory / NETWORK).write_bytes(self.network.model)
        if self.weights is not None:
            (directory / WEIGHTS).write_bytes(self.weights)
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
        """A saved bundle, ready to forecast. One saved before the ONNX network existed is
        exported from its torch weights here, with one log line: only then is torch imported."""
        config = json.loads((directory / CONFIG).read_text())
        if config.get("format_version") != FORMAT_VERSION:
            raise IncompatibleModelError(
                f"{directory}: model format {config.get('format_version')} is not "
                f"{FORMAT_VERSION}; retrain it with this version of tickcast (`tickcast train`)"
            )
        window, hparams = int(config["window"]), dict(config["hparams"])
        weights = (directory / WEIGHTS).read_bytes() if (directory / WEIGHTS).is_file() else None
        if (directory / NETWORK).is_file():
            model = (directory / NETWORK).read_bytes()
        elif weights is None:
            raise IncompatibleModelError(f"{directory}: neither {NETWORK} nor {WEIGHTS}")
        else:
            from model.export import export_weights  # torch: only for models saved before ONNX

            model = export_weights(weights, hparams, window)
            logger.warning(
                "%s was saved without its ONNX network (before tickcast served with ONNX "
                "Runtime): exported it from the torch weights",
                directory,
            )
        raw = json.loads((directory / BASELINE).read_text())
        baselines = {name: ReturnBaseline.from_dict(data) for name, data in raw.items()}
        calibration = Calibration.from_dict(json.loads((directory / CALIBRATION).read_text()))
        return cls(
            Network(model),
            ReturnScaler(**config["scaler"]),
            window,
            hparams,
            baselines,
            calibration,
            weights,
        )
