"""Interval scores and calibration helpers against hand-computed values on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from core.errors import InputError
from model.intervals import (
    INTERVALS,
    LEVELS,
    aci_step,
    binomial_band,
    central_coverages,
    conformal_quantile,
    coverage_of,
    covered,
    interval_figures,
    level_key,
    pinball,
    pinball_one,
    winkler,
)

Y = np.array([0.01, -0.03, 0.0])
TAUS = (0.1, 0.5, 0.9)
Q = np.array(
    [
        [-0.02, 0.00, 0.02],
        [-0.02, 0.00, 0.02],
        [-0.01, 0.01, 0.03],
    ]
)


def test_constants_and_level_keys() -> None:
    assert LEVELS == (0.025, 0.1, 0.5, 0.9, 0.975)
    assert INTERVALS == {"80": (0.1, 0.9), "95": (0.025, 0.975)}
    assert [level_key(t) for t in LEVELS] == ["0.025", "0.1", "0.5", "0.9", "0.975"]
    # float noise does not leak into JSON keys: 1 - 0.9 = 0.09999999999999998
    assert level_key(1 - 0.9) == "0.1"


def test_pinball_by_hand() -> None:
    # row 0: y=0.01, d = y - q = [0.03, 0.01, -0.01]
    #   0.1*0.03 = 0.003; 0.5*0.01 = 0.005; (0.9-1)*(-0.01) = 0.001 -> 0.009 / 3 = 0.003
    # row 1: y=-0.03, d = [-0.01, -0.03, -0.05]
    #   0.9*0.01 = 0.009; 0.5*0.03 = 0.015; 0.1*0.05 = 0.005 -> 0.029 / 3 = 0.0096667
    # row 2: y=0, d = [0.01, -0.01, -0.03]
    #   0.1*0.01 = 0.001; 0.5*0.01 = 0.005; 0.1*0.03 = 0.003 -> 0.009 / 3 = 0.003
    assert pinball(Y, Q, TAUS) == pytest.approx([0.003, 0.029 / 3, 0.003])


def test_the_one_value_pinball_is_the_vectorised_one_to_the_bit() -> None:
    # The stream scores with pinball_one, evaluate and backtest reports with pinball.
    rng = np.random.default_rng(5)
    levels = (0.025, 0.1, 0.5, 0.9, 0.975)
    for _ in range(200):
        y, q = rng.normal(0, 0.02), np.sort(rng.normal(0, 0.02, len(levels)))
        assert pinball_one(y, q.tolist(), levels) == pinball(np.array([y]), q[None, :], levels)[0]
    assert pinball_one(0.01, [0.0], [0.5]) == pytest.approx(0.005)


def test_pinball_is_zero_on_a_perfect_forecast() -> None:
    assert pinball(Y, np.repeat(Y[:, None], 3, axis=1), TAUS) == pytest.approx([0, 0, 0])


def test_coverage_by_hand() -> None:
    # [-0.02, 0.02] holds 0.01; -0.03 is below -0.02; [-0.01, 0.03] holds 0.0
    assert covered(Y, Q[:, 0], Q[:, 2]).tolist() == [True, False, True]
    # the interval is closed: both bounds count as covered
    assert covered(np.array([-0.02, 0.02]), -0.02, 0.02).tolist() == [True, True]


def test_winkler_by_hand() -> None:
    # alpha = 0.2 -> penalty 2 / 0.2 = 10 per unit of miss
    # row 0: inside, width 0.02 - (-0.02) = 0.04
    # row 1: below by -0.02 - (-0.03) = 0.01 -> 0.04 + 10*0.01 = 0.14
    # row 2: inside, width 0.03 - (-0.01) = 0.04
    assert winkler(Y, Q[:, 0], Q[:, 2], 0.2) == pytest.approx([0.04, 0.14, 0.04])
    # above: y=0.05 over [0, 0.02] at alpha=0.05 -> 0.02 + 40*0.03 = 1.22
    assert winkler(np.array([0.05]), np.array([0.0]), np.array([0.02]), 0.05) == pytest.approx(
        [1.22]
    )


def test_interval_figures_by_hand() -> None:
    last = np.array([100.0, 50.0])
    y = np.array([0.01, -0.03])
    actual = last * np.exp(y)  # [101.005017, 48.522277]
    point = np.array([101.0, 49.0])
    quantiles = np.array(
        [
            [-0.04, -0.02, 0.0, 0.02, 0.04],  # y=0.01 inside both intervals
            [-0.05, -0.02, 0.0, 0.02, 0.05],  # y=-0.03 outside the 80%, inside the 95%
        ]
    )
    figures = interval_figures(last, actual, point, quantiles)
    assert list(figures) == [
        "n",
        "coverage_80",
        "coverage_95",
        "width_80",
        "width_95",
        "winkler_80",
        "pinball",
        "mase",
    ]
    assert figures["n"] == 2 and isinstance(figures["n"], int)
    assert figures["coverage_80"] == pytest.approx(0.5)
    assert figures["coverage_95"] == pytest.approx(1.0)
    # widths: 80% 0.04 and 0.04; 95% 0.08 and 0.10 -> 0.09
    assert figures["width_80"] == pytest.approx(0.04)
    assert figures["width_95"] == pytest.approx(0.09)
    # Winkler 80 (alpha 0.2): 0.04 and 0.04 + 10*0.01 = 0.14 -> 0.09
    assert figures["winkler_80"] == pytest.approx(0.09)
    # pinball row 0: d = [0.05, 0.03, 0.01, -0.01, -0.03]
    #   0.025*0.05 + 0.1*0.03 + 0.5*0.01 + 0.1*0.01 + 0.025*0.03 = 0.011 -> /5 = 0.0022
    # pinball row 1: d = [0.02, -0.01, -0.03, -0.05, -0.08]
    #   0.025*0.02 + 0.9*0.01 + 0.5*0.03 + 0.1*0.05 + 0.025*0.08 = 0.0315 -> /5 = 0.0063
    # mean (0.0022 + 0.0063) / 2 = 0.00425
    assert figures["pinball"] == pytest.approx(0.00425)
    # MASE: |actual - point| = 0.005017 + 0.477723 = 0.482740
    #       |actual - last|  = 1.005017 + 1.477723 = 2.482740 -> 0.194438
    assert figures["mase"] == pytest.approx(0.482740 / 2.482740, rel=1e-5)


def test_interval_figures_edge_cases() -> None:
    flat = np.array([10.0])
    q = np.array([[-0.1, -0.05, 0.0, 0.05, 0.1]])
    assert math.isnan(interval_figures(flat, flat, np.array([11.0]), q)["mase"])
    with pytest.raises(InputError, match="no forecasts to score"):
        interval_figures(np.array([]), np.array([]), np.array([]), np.zeros((0, 5)))
    with pytest.raises(InputError):
        interval_figures(flat, flat, flat, q, levels=(0.025, 0.2, 0.5, 0.8, 0.975))


def test_binomial_band_matches_scipy() -> None:
    low, high = binomial_band(250, 0.8)
    expected = stats.binom.interval(0.95, 250, 0.8)  # (187, 212)
    assert (low, high) == pytest.approx((expected[0] / 250, expected[1] / 250))
    assert 0.74 < low < 0.76 and 0.84 < high < 0.86
    assert binomial_band(60, 0.8) == pytest.approx((42 / 60, 54 / 60))
    # a lower confidence gives a band inside the 95% one
    low50, high50 = binomial_band(60, 0.8, confidence=0.5)
    assert 42 / 60 <= low50 < 0.8 < high50 <= 54 / 60
    assert binomial_band(0, 0.8) == (0.0, 1.0)


SCORES = np.array([0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0])  # n = 9, grid k/10


def test_conformal_quantile_is_the_order_statistic_on_the_grid() -> None:
    for k in range(1, 10):
        assert conformal_quantile(SCORES, k / 10) == pytest.approx(SCORES[k - 1])
    assert isinstance(conformal_quantile(SCORES, 0.9), float)
    # halfway between grid points: (n+1)*0.15 = 1.5 -> between z_(1)=0.5 and z_(2)=1.0
    assert conformal_quantile(SCORES, 0.15) == pytest.approx(0.75)


def test_conformal_quantile_clamps_and_is_monotone() -> None:
    assert conformal_quantile(SCORES, 0.05) == 0.5  # below 1/10
    assert conformal_quantile(SCORES, 0.0) == 0.5
    assert conformal_quantile(SCORES, 0.95) == 34.0  # above 9/10
    assert conformal_quantile(SCORES, 1.0) == 34.0
    values = [conformal_quantile(SCORES, level) for level in np.linspace(0.0, 1.0, 201)]
    assert np.all(np.diff(values) >= 0)
    with pytest.raises(InputError, match="no calibration scores"):
        conformal_quantile((), 0.9)


def test_conformal_quantile_is_numpys_weibull_rule() -> None:
    rng = np.random.default_rng(13)
    for n in (1, 2, 9, 250, 1239):
        scores = np.sort(np.abs(rng.standard_t(4, n)))
        listed = tuple(scores.tolist())
        levels = np.r_[0.0, 1.0, 0.5, 0.8, 0.95, 1 / (n + 1), n / (n + 1), rng.uniform(0, 1, 200)]
        ours = [conformal_quantile(listed, level) for level in levels.tolist()]
        np.testing.assert_allclose(
            ours, np.quantile(scores, levels, method="weibull"), rtol=1e-12, atol=1e-15
        )


def test_aci_step_by_hand() -> None:
    # gamma = 0.1; column 0 is level 0.1, column 1 is level 0.9; bounds (0.0005, 0.9995)
    levels = np.array([0.1, 0.9])
    gamma = 0.1
    hits = [np.array([1, 0]), np.array([1, 0]), np.array([0, 1]), np.array([0, 0])]
    # col 0: 0.1 + 0.1*(0.1-1) = 0.01; 0.01 - 0.09 = -0.08 -> clip 0.0005;
    #        0.0005 + 0.1*0.1 = 0.0105; 0.0105 + 0.01 = 0.0205
    # col 1: 0.9 + 0.1*0.9 = 0.99; 0.99 + 0.09 = 1.08 -> clip 0.9995;
    #        0.9995 + 0.1*(0.9-1) = 0.9895; 0.9895 + 0.09 = 1.0795 -> clip 0.9995
    expected = [[0.01, 0.99], [0.0005, 0.9995], [0.0105, 0.9895], [0.0205, 0.9995]]
    level_eff = levels.copy()
    for hit, want in zip(hits, expected, strict=True):
        level_eff = aci_step(level_eff, levels, hit, gamma)
        assert level_eff == pytest.approx(want)


def test_aci_step_moves_the_right_way() -> None:
    # realised value below the quantile (hit) -> the level drops; a miss -> it rises
    assert aci_step(np.array([0.5]), np.array([0.5]), np.array([1]), 0.01)[0] < 0.5
    assert aci_step(np.array([0.5]), np.array([0.5]), np.array([0]), 0.01)[0] > 0.5
    assert aci_step(np.array([0.5]), np.array([0.5]), np.array([0]), 1.0, (0.1, 0.7))[0] == 0.7


def test_coverages_of_the_levels() -> None:
    assert central_coverages(LEVELS) == (0.8, 0.95)
    assert central_coverages((0.05, 0.1, 0.5, 0.9)) == (0.8, 0.9)  # an unpaired level too
    assert coverage_of(0.1) == coverage_of(0.9) == 0.8 and coverage_of(0.5) == 0.0
