"""The coverage band reads scipy's binomial quantile function without scipy.stats (46 MB and
0.6 s in every serving process): it must stay equal to scipy.stats.binom.interval."""

from __future__ import annotations

import pytest
from scipy import stats

from model.intervals import binomial_band

SIZES = [*range(1, 130), 250, 500, 1000, 2500]
SHARES = (0.025, 0.1, 0.2, 0.5, 0.8, 0.9, 0.975)


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_the_band_equals_scipy_stats_binomial_interval(confidence: float) -> None:
    for n in SIZES:
        for share in SHARES:
            low, high = stats.binom.interval(confidence, n, share)
            assert binomial_band(n, share, confidence) == (low / n, high / n), (n, share)


def test_no_forecast_yet_gives_the_whole_range() -> None:
    assert binomial_band(0, 0.8) == (0.0, 1.0)
