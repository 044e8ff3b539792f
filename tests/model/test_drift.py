"""Drift of a window's log returns against the training baseline."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.config import DriftSettings
from model.drift import OVERALL, ReturnBaseline, assess_drift, build_baselines

VOL = 0.015  # daily volatility of the training series
N_RETURNS = 59  # a 60-close window
NAMES = ["ks_pvalue", "volatility_ratio", "mean_return_z"]


def _closes(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    return start * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))


def _calm_returns(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, VOL, N_RETURNS)


def _baselines() -> dict[str, ReturnBaseline]:
    rng = np.random.default_rng(0)
    return build_baselines(
        {
            "AAA": _closes(rng.normal(0.0, VOL, 2000)),
            "BBB": _closes(rng.normal(0.0, 4 * VOL, 1500), start=20.0),
        }
    )


BASELINES = _baselines()


def _assess(closes: np.ndarray, settings: DriftSettings | None = None, ticker: str = "AAA"):
    report = assess_drift(closes, BASELINES, settings or DriftSettings(), ticker)
    stats = {s.name: s for s in report.statistics}
    # the overall flag needs KS and at least one moment statistic to agree
    expected = stats["ks_pvalue"].drift and (
        stats["volatility_ratio"].drift or stats["mean_return_z"].drift
    )
    assert report.drift == expected
    return report, stats


def test_calm_window_is_not_drift() -> None:
    report, stats = _assess(_closes(_calm_returns()))
    assert report.drift is False
    assert report.baseline == "AAA"
    assert not any(s.drift for s in report.statistics)
    assert 0.5 < stats["volatility_ratio"].value < 2.0
    assert report.notes == []


def test_calm_windows_rarely_drift() -> None:
    rng = np.random.default_rng(1)
    flags = [_assess(_closes(rng.normal(0.0, VOL, N_RETURNS)))[0].drift for _ in range(200)]
    assert np.mean(flags) < 0.10


def test_four_times_the_volatility_is_drift() -> None:
    report, stats = _assess(_closes(4 * _calm_returns()))
    assert report.drift is True
    assert stats["volatility_ratio"].drift is True
    assert stats["volatility_ratio"].value > 3.0
    assert stats["ks_pvalue"].drift is True
    assert stats["ks_pvalue"].value < 0.05


def test_strong_trend_flags_the_mean() -> None:
    trend = 5 * VOL / math.sqrt(N_RETURNS)  # five standard errors a day, on average
    _, stats = _assess(_closes(_calm_returns() + trend))
    assert stats["mean_return_z"].drift is True
    assert stats["mean_return_z"].value > 3.0
    assert stats["volatility_ratio"].drift is False  # the spread did not change


@pytest.mark.parametrize(("factor", "side"), [(100.0, "above"), (0.01, "below")])
def test_new_price_level_is_a_note_not_drift(factor: float, side: str) -> None:
    calm = _closes(_calm_returns())
    report, _ = _assess(calm * factor)
    assert report.drift is False
    assert not any(s.drift for s in report.statistics)
    assert len(report.notes) == 1
    assert side in report.notes[0]
    assert "not drift" in report.notes[0]
    # the statistics read returns only, so they match the unscaled window
    values = [s.value for s in _assess(calm)[0].statistics]
    np.testing.assert_allclose([s.value for s in report.statistics], values, rtol=1e-9)


def test_every_statistic_carries_name_value_threshold_and_verdict() -> None:
    report, _ = _assess(_closes(4 * _calm_returns()))
    assert [s.name for s in report.statistics] == NAMES
    for stat in report.statistics:
        assert isinstance(stat.value, float) and math.isfinite(stat.value)
        assert isinstance(stat.threshold, str) and stat.threshold
        assert isinstance(stat.drift, bool)
    thresholds = [s.threshold for s in report.statistics]
    assert thresholds == ["p < 0.05", "outside [0.5, 2.0]", "|z| > 3.0"]
    assert json.loads(report.model_dump_json())["statistics"][1]["name"] == NAMES[1]


@pytest.mark.parametrize("ticker", [None, "", "ZZZ"])
def test_unknown_ticker_falls_back_to_overall(ticker: str | None) -> None:
    report, _ = _assess(_closes(_calm_returns()), ticker=ticker)
    assert report.baseline == OVERALL == "overall"


def test_known_ticker_uses_its_own_baseline() -> None:
    calm = _closes(_calm_returns())
    own, own_stats = _assess(calm, ticker="AAA")
    other, other_stats = _assess(calm * 0.2, ticker="BBB")
    assert (own.baseline, other.baseline) == ("AAA", "BBB")
    assert own_stats["volatility_ratio"].drift is False
    # BBB trained at 4x the volatility: the same calm window is a quarter of its spread
    assert other_stats["volatility_ratio"].value < 0.5
    assert other_stats["volatility_ratio"].drift is True
    assert other.drift is True


def test_build_baselines_pools_an_overall_baseline() -> None:
    aaa, bbb, overall = BASELINES["AAA"], BASELINES["BBB"], BASELINES[OVERALL]
    assert set(BASELINES) == {"AAA", "BBB", OVERALL}
    assert (aaa.returns.size, bbb.returns.size, overall.returns.size) == (2000, 1500, 3500)
    assert overall.price_min == min(aaa.price_min, bbb.price_min)
    assert overall.price_max == max(aaa.price_max, bbb.price_max)
    assert aaa.std == pytest.approx(VOL, rel=0.05)
    assert aaa.mean == pytest.approx(aaa.returns.mean())


def test_baseline_dict_round_trip() -> None:
    original = BASELINES["AAA"]
    data = json.loads(json.dumps(original.to_dict()))
    assert data["n"] == 2000
    assert data["std"] == pytest.approx(original.std)
    restored = ReturnBaseline.from_dict(data)
    np.testing.assert_array_equal(restored.returns, original.returns)
    assert (restored.mean, restored.std) == (original.mean, original.std)
    assert (restored.price_min, restored.price_max) == (original.price_min, original.price_max)


@pytest.mark.parametrize(
    ("settings", "name", "returns_factor", "trend"),
    [
        (DriftSettings(vol_ratio_high=1.5), "volatility_ratio", 1.7, 0.0),
        (DriftSettings(vol_ratio_low=0.9), "volatility_ratio", 0.75, 0.0),
        (DriftSettings(mean_z=1.5), "mean_return_z", 1.0, 2.0),
        (DriftSettings(ks_alpha=0.9), "ks_pvalue", 1.0, 0.0),
    ],
)
def test_thresholds_come_from_settings(
    settings: DriftSettings, name: str, returns_factor: float, trend: float
) -> None:
    returns = returns_factor * _calm_returns() + trend * VOL / math.sqrt(N_RETURNS)
    _, default = _assess(_closes(returns))
    _, tight = _assess(_closes(returns), settings)
    assert default[name].drift is False
    assert tight[name].drift is True
    assert tight[name].value == pytest.approx(default[name].value)
    assert tight[name].threshold != default[name].threshold


@pytest.mark.parametrize("seed", range(20))
def test_fast_ks_matches_scipy(seed: int) -> None:
    """D is exactly scipy's; the asymptotic p stays within 0.02 of scipy's exact p."""
    from scipy import stats

    from model.drift import ReturnBaseline, ks_two_sample

    rng = np.random.default_rng(seed)
    baseline = ReturnBaseline(rng.standard_t(4, 1200) * 0.02, 1.0, 2.0)
    window = rng.standard_t(4, 59) * 0.02 * rng.uniform(0.4, 2.5)
    d, p = ks_two_sample(window, baseline)
    reference = stats.ks_2samp(window, baseline.returns)
    assert d == pytest.approx(reference.statistic, abs=1e-12)
    assert p == pytest.approx(reference.pvalue, abs=0.02)
