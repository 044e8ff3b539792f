"""Diebold-Mariano against a hand-computed case, and drift periods from alerts."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy import stats

from backtest.scoring import drift_mask
from model.metrics import diebold_mariano


def test_diebold_mariano_matches_a_hand_computed_case() -> None:
    # Squared losses: a -> 1, 4, 9, 16; b -> 4, 4, 4, 4; d = -3, 0, 5, 12, mean 3.5.
    # gamma_0 = (6.5^2 + 3.5^2 + 1.5^2 + 8.5^2) / 4 = 129 / 4 = 32.25.
    # DM = 3.5 / sqrt(32.25 / 4) = 1.232629; HLN factor sqrt((4 + 1 - 2) / 4) = 0.866025;
    # so the statistic is 1.232629 * 0.866025 = 1.067490.
    result = diebold_mariano(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 2.0, 2.0]))
    expected = 3.5 / math.sqrt(32.25 / 4) * math.sqrt(3 / 4)
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.statistic == pytest.approx(1.067490, abs=1e-6)
    assert result.pvalue == pytest.approx(2 * stats.t.sf(expected, df=3), rel=1e-12)
    assert result.n == 4


def test_diebold_mariano_sign_and_power() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.normal(0, 1, 500), rng.normal(0, 3, 500)
    better = diebold_mariano(small, large)
    assert better.statistic < 0 and better.pvalue < 0.001  # a clearly beats b
    assert diebold_mariano(large, small).statistic == pytest.approx(-better.statistic)
    same = diebold_mariano(small, small)
    assert (same.statistic, same.pvalue) == (0.0, 1.0)
    absolute = diebold_mariano(np.array([1.0, -2.0, 3.0]), np.array([1.0, 1.0, 1.0]), power=1)
    assert absolute.statistic > 0
    with pytest.raises(ValueError):
        diebold_mariano(np.ones(2), np.ones(2))


def test_the_one_sided_test_flags_only_a_worse_first_forecast() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.normal(0, 1, 60), rng.normal(0, 2, 60)
    worse = diebold_mariano(large, small, power=1, alternative="greater")
    better = diebold_mariano(small, large, power=1, alternative="greater")
    assert worse.pvalue < 0.05 < better.pvalue
    assert worse.pvalue + better.pvalue == pytest.approx(1.0)
    two_sided = diebold_mariano(large, small, power=1)
    assert two_sided.pvalue == pytest.approx(2 * worse.pvalue)


def test_drift_mask_spans_entered_to_recovered() -> None:
    days = np.array([date(2024, 1, d) for d in range(1, 11)])
    alerts = [
        (date(2024, 1, 3), "entered"),
        (date(2024, 1, 6), "recovered"),
        (date(2024, 1, 9), "entered"),
    ]
    mask = drift_mask(days, alerts)
    assert [d.day for d in days[mask]] == [3, 4, 5, 9, 10]
    assert not drift_mask(days, []).any()
