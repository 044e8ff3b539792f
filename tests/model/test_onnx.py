"""Serving with ONNX Runtime: it agrees with torch, gives a window the same bits in any batch,
and a model saved before the export is exported on first load, once, then served without
torch."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from model import registry
from model.bundle import NETWORK, ModelBundle
from model.drift import build_baselines
from model.export import network_from
from model.features import window_features
from model.predictor import Predictor
from model.windows import concat, make_windows
from producers.sources import load_prices
from tests.probes import run_probe
from tests.utils.factories import ar1_frame, make_settings, stand_in_bundle

FIVE = ["CMIG4.SA", "PETR4.SA", "VALE3.SA", "ITUB4.SA", "BBDC4.SA"]
WINDOW = 60
TOLERANCE = 1e-6  # issue 15: the two runtimes agree within this on location and scale


def _torch_distribution(bundle: ModelBundle, closes: np.ndarray, bars: np.ndarray | None):
    """Location and scale from the torch network rebuilt from the bundle's weights.pt."""
    steps, prior, _ = window_features(closes, bundle.scaler, bars)
    net = network_from(bundle.weights, bundle.hparams)
    with torch.no_grad():
        out = net(torch.from_numpy(steps), torch.from_numpy(prior)).numpy().astype(np.float64)
    return bundle.scaler.inverse_transform(out[:, 0]), np.exp(out[:, 1]) * bundle.scaler.std


def test_onnx_and_torch_agree_on_the_five_shared_tickers(shared_data: Path, tmp_path) -> None:
    data = load_prices(
        f"csv:{shared_data}", FIVE, make_settings(tmp_path).data, date(2018, 1, 2), None
    )
    windows = concat([make_windows(f, t, WINDOW) for t, f in data.frames.items()])
    baselines = build_baselines({t: f["close"].to_numpy() for t, f in data.frames.items()})
    bundle = stand_in_bundle(WINDOW, baselines, hidden_size=32)
    assert len(windows) > 7_000
    for bars in (windows.bars, None):  # with each day's range, and from closes alone
        served = bundle.predict_distribution(windows.closes, bars)
        location, scale = _torch_distribution(bundle, windows.closes, bars)
        assert np.ptp(location) > 1e-3  # a network whose forecasts vary, not a constant
        np.testing.assert_allclose(served.location, location, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(served.scale, scale, rtol=0, atol=TOLERANCE)


def test_a_window_gets_the_same_bits_alone_and_in_any_batch() -> None:
    """Why a micro-batch runs in one call: what else is in it changes nothing."""
    frames = {f"T{seed}": ar1_frame(n=400, seed=seed) for seed in range(3)}
    windows = concat([make_windows(f, t, WINDOW) for t, f in frames.items()])
    bundle = stand_in_bundle(WINDOW, build_baselines({"T0": frames["T0"]["close"].to_numpy()}))
    alone = np.concatenate(
        [bundle.predict_distribution(windows.closes[i : i + 1]).location for i in range(300)]
    )
    rng = np.random.default_rng(0)
    for size in (2, 3, 17, 64, 255, 300):
        picked = rng.choice(300, size=size, replace=False)
        batch = bundle.predict_distribution(windows.closes[picked]).location
        np.testing.assert_array_equal(batch, alone[picked])


def _bundle() -> ModelBundle:
    rng = np.random.default_rng(1)
    baselines = build_baselines({"AAA": 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))})
    return stand_in_bundle(WINDOW, baselines)


def _windows() -> np.ndarray:
    return make_windows(ar1_frame(n=200, seed=3), "AAA", WINDOW).closes


def test_a_bundle_saved_without_onnx_is_exported_on_load_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = _bundle()
    directory = bundle.save(tmp_path / "model")
    assert (directory / NETWORK).is_file()
    (directory / NETWORK).unlink()  # what a bundle saved before the export looks like
    with caplog.at_level(logging.INFO):
        loaded = ModelBundle.load(directory)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("model.")]
    assert len(lines) == 1 and "exported it from the torch weights" in lines[0]
    np.testing.assert_array_equal(
        loaded.predict_prices(_windows()), bundle.predict_prices(_windows())
    )


# Serves the champion in a fresh interpreter: its forecasts, and whether torch came in.
SERVE = """
import json, sys
import numpy as np
from model.predictor import Predictor
from tests.probes import run_probe
from tests.utils.factories import make_settings
predictor = Predictor.load(make_settings(__import__("pathlib").Path(sys.argv[1])))
windows = np.array(json.load(sys.stdin))
print(json.dumps({"prices": predictor.predict(windows).tolist(), "torch": "torch" in sys.modules}))
"""


def test_a_model_registered_before_onnx_is_exported_once_then_served_without_torch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    bundle, name = _bundle(), settings.mlflow.model_name
    client = registry.connect(settings.mlflow)
    with mlflow.start_run() as run:
        uri = registry.log_bundle(bundle)
    version = registry.register(uri, name, run.info.run_id)
    registry.set_alias(client, name, settings.mlflow.champion_alias, version)
    [stored] = list(tmp_path.rglob(NETWORK))
    stored.unlink()  # as registered before the export existed
    windows = _windows()
    with caplog.at_level(logging.INFO, logger="model"):
        first = Predictor.load(settings)
    exports = [r for r in caplog.records if "exported it from the torch weights" in r.message]
    assert len(exports) == 1
    assert stored.is_file()  # kept with the registered model
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="model"):
        Predictor.load(settings)
    assert not [r for r in caplog.records if "exported" in r.message]
    served = run_probe(SERVE, str(tmp_path), stdin=json.dumps(windows.tolist()))
    assert served["torch"] is False
    np.testing.assert_array_equal(served["prices"], first.predict(windows))
    np.testing.assert_array_equal(served["prices"], bundle.predict_prices(windows))
