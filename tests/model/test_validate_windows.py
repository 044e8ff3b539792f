"""Input validation of forecast windows, and the saved model bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.bundle import CONFIG, ModelBundle
from model.drift import build_baselines
from model.errors import InvalidWindowError
from model.forecaster import validate_windows
from tests.utils.factories import stand_in_bundle

W = 60
ROW = [100.0 + i for i in range(W)]


def _with(value: object, at: int = 7) -> list[list[object]]:
    """Two good windows, the second with `value` at position `at`."""
    bad = list(ROW)
    bad[at] = value
    return [list(ROW), bad]


def test_accepts_a_list_of_lists() -> None:
    array = validate_windows([ROW, ROW[::-1]], W)
    assert array.shape == (2, W)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array[1], ROW[::-1])


def test_accepts_a_two_dimensional_array() -> None:
    windows = np.arange(1, 3 * W + 1, dtype=np.int64).reshape(3, W)
    array = validate_windows(windows, W)
    assert array.shape == (3, W)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, windows)


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        ([ROW[:59]], ["60", "59"]),
        ([[*ROW, 160.0]], ["60", "61"]),
        ([[]], ["60", "0 prices"]),
        (_with(float("nan")), ["finite", "window 1", "price 7"]),
        (_with(float("inf")), ["finite", "inf"]),
        (_with(float("-inf")), ["finite", "-inf"]),
        (_with(0.0), ["positive", "window 1", "price 7"]),
        (_with(-3.5), ["positive", "-3.5"]),
        (_with(None), ["numbers"]),
        (_with("abc"), ["numbers"]),
        (ROW, ["N x 60", "not a list"]),
        ([], ["windows"]),
        (np.empty((0, W)), ["no windows"]),
        ([ROW, ROW[:30]], []),  # ragged rows
        (np.ones((2, W, 1)), ["3 dimensions"]),
    ],
    ids=[
        "59-prices",
        "61-prices",
        "no-prices",
        "nan",
        "inf",
        "-inf",
        "zero",
        "negative",
        "none",
        "string",
        "1-d",
        "empty-list",
        "empty-array",
        "ragged",
        "3-d",
    ],
)
def test_rejects_bad_windows(windows: object, expected: list[str]) -> None:
    with pytest.raises(InvalidWindowError) as info:
        validate_windows(windows, W)
    assert isinstance(info.value, ValueError)  # callers may catch ValueError
    message = str(info.value)
    assert message
    for fragment in expected:
        assert fragment in message


def _gbm_windows(n: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.02, (n, W - 1))
    return 50.0 * np.exp(np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1))


def _bundle(mean: float = 0.0, trained: bool = True) -> ModelBundle:
    rng = np.random.default_rng(1)
    baselines = build_baselines({"AAA": 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))})
    return stand_in_bundle(W, baselines, trained=trained, mean=mean)


def test_save_and_load_give_the_same_predictions(tmp_path: Path) -> None:
    bundle = _bundle()
    windows = _gbm_windows()
    before = bundle.predict_distribution(windows)
    assert not np.allclose(bundle.predict_prices(windows), windows[:, -1], rtol=1e-6)
    loaded = ModelBundle.load(bundle.save(tmp_path / "model"))
    after = loaded.predict_distribution(windows)
    np.testing.assert_array_equal(after.location, before.location)
    np.testing.assert_array_equal(after.scale, before.scale)
    np.testing.assert_array_equal(loaded.predict_prices(windows), bundle.predict_prices(windows))
    assert loaded.window == W
    assert loaded.scaler == bundle.scaler
    assert loaded.hparams == bundle.hparams
    assert loaded.calibration.shrink == bundle.calibration.shrink
    np.testing.assert_array_equal(loaded.calibration.ranged, bundle.calibration.ranged)
    np.testing.assert_array_equal(loaded.calibration.close_only, bundle.calibration.close_only)
    assert set(loaded.baselines) == {"AAA", "overall"}
    np.testing.assert_array_equal(loaded.baselines["AAA"].returns, bundle.baselines["AAA"].returns)


def test_load_rejects_another_format(tmp_path: Path) -> None:
    directory = _bundle().save(tmp_path / "model")
    config = json.loads((directory / CONFIG).read_text())
    config["format_version"] = 99
    (directory / CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="format"):
        ModelBundle.load(directory)


@pytest.mark.parametrize("mean", [0.0, 0.0005, -0.001])
def test_untrained_bundle_forecasts_the_training_mean_return(mean: float) -> None:
    bundle = _bundle(mean=mean, trained=False)
    windows = _gbm_windows()
    expected = windows[:, -1] * np.exp(mean)
    np.testing.assert_allclose(bundle.predict_prices(windows), expected, rtol=1e-12)
    np.testing.assert_allclose(bundle.predict_returns(windows), mean, atol=1e-12)


@pytest.mark.parametrize("factor", [10.0, 0.001])
def test_predictions_are_scale_equivariant(factor: float) -> None:
    bundle = _bundle()
    windows = _gbm_windows(seed=2)
    base = bundle.predict_prices(windows)
    np.testing.assert_allclose(bundle.predict_prices(windows * factor), base * factor, rtol=1e-5)


def test_prices_outside_the_plausible_bounds_are_refused_with_the_bound() -> None:
    with pytest.raises(InvalidWindowError, match=r"window 1: prices below 0\.0001"):
        validate_windows(_with(1e-300), W, max_price=1e7, min_price=1e-4)
    with pytest.raises(InvalidWindowError, match=r"window 1: prices above 1e\+07"):
        validate_windows(_with(1e300), W, max_price=1e7, min_price=1e-4)
    assert validate_windows(_with(1e-4), W, max_price=1e7, min_price=1e-4).min() == 1e-4
