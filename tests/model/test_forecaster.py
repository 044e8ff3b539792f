"""The Forecaster's intervals: quantiles never cross, whatever the window or the levels."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import DriftSettings, ForecastSettings
from model.drift import build_baselines
from model.forecaster import Forecaster, WindowInput
from model.intervals import LEVELS, conformal_quantile, level_key
from tests.utils.factories import stand_in_bundle

W = 60
BASELINES = build_baselines(
    {"AAA": 20 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.02, 500)))}
)


@pytest.fixture(scope="module")
def forecaster() -> Forecaster:
    return Forecaster(stand_in_bundle(W, BASELINES), "m", "1", ForecastSettings(), DriftSettings())


EXTREME = {
    "flat": np.full(W, 7.0),
    "tiny prices": np.full(W, 1e-4) * np.exp(np.linspace(0, 0.1, W)),  # the plausible minimum
    "at the plausible maximum": np.full(W, 1e7),
    "saw-tooth x1000": np.where(np.arange(W) % 2, 1e3, 1.0),
    "one crash": np.r_[np.full(W - 1, 100.0), 0.01],
    "one spike": np.r_[np.full(W - 1, 0.01), 1e6],
    "steady climb": np.exp(np.linspace(0, 15, W)),
}


@pytest.mark.parametrize("closes", EXTREME.values(), ids=EXTREME.keys())
def test_quantiles_are_finite_and_never_cross_on_extreme_windows(forecaster, closes) -> None:
    bars = np.stack([closes, closes * 1.5, closes * 0.5], axis=-1)
    for prediction in forecaster.forecast([WindowInput(closes), WindowInput(closes, bars=bars)]):
        keys = [level_key(level) for level in LEVELS]
        prices = [prediction.quantiles[k] for k in keys]
        returns = [prediction.return_quantiles[k] for k in keys]
        assert all(np.isfinite(prices)) and all(np.isfinite(returns))
        assert prices == sorted(prices) and returns == sorted(returns)
        assert prediction.volatility > 0


@pytest.mark.parametrize(
    "coverages",
    [(0.95, 0.8), (0.9995, 0.9995), (0.0005, 0.0005), (0.0005, 0.9995)],
    ids=["swapped", "all wide", "all narrow", "narrow then widest"],
)
def test_adaptive_coverages_never_make_quantiles_cross(forecaster, coverages) -> None:
    closes = 20 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.02, W)))
    [prediction] = forecaster.forecast([WindowInput(closes)])
    moved = forecaster.at_coverages(prediction, coverages)
    values = list(moved.return_quantiles.values())
    assert values == sorted(values) and moved.interval_method == "aci"
    assert moved.predicted_close == prediction.predicted_close  # only the intervals move
    assert moved.return_quantiles["0.5"] == prediction.predicted_return  # the point stays


def test_intervals_are_symmetric_about_the_point_at_the_conformal_radius(forecaster) -> None:
    closes = 20 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.02, W)))
    [p] = forecaster.forecast([WindowInput(closes)])
    assert forecaster.coverages == (0.8, 0.95)
    magnitudes = np.sort(np.abs(forecaster.bundle.calibration.scores(p.ranged)))
    for coverage, radius, (low, high) in zip(
        (0.8, 0.95), p.radii, (("0.1", "0.9"), ("0.025", "0.975")), strict=True
    ):
        assert radius == pytest.approx(p.scale * conformal_quantile(magnitudes, coverage))
        q = p.return_quantiles
        assert q[high] - p.predicted_return == pytest.approx(radius, rel=1e-12)
        assert p.predicted_return - q[low] == pytest.approx(radius, rel=1e-12)


def test_extra_levels_from_the_settings_join_the_five() -> None:
    settings = ForecastSettings(extra_levels=(0.05, 0.95))
    model = Forecaster(stand_in_bundle(W, BASELINES), "m", "1", settings, DriftSettings())
    closes = 20 * np.exp(np.cumsum(np.random.default_rng(4).normal(0, 0.02, W)))
    [prediction] = model.forecast([WindowInput(closes)])
    assert list(prediction.quantiles) == ["0.025", "0.05", "0.1", "0.5", "0.9", "0.95", "0.975"]
    values = list(prediction.quantiles.values())
    assert values == sorted(values)


def test_bars_of_the_wrong_length_are_a_clear_error(forecaster) -> None:
    closes = np.full(W, 10.0)
    with pytest.raises(ValueError, match="open, high and low need 60 values each"):
        forecaster.forecast([WindowInput(closes, bars=np.ones((W - 1, 3)))])
