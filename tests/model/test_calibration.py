"""A trained model's intervals are calibrated on data it never saw, with known volatility."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from model.evaluation import forecast_windows
from model.intervals import binomial_band
from model.predictor import Predictor
from model.training import train
from model.windows import make_windows
from producers.calendar import trading_days
from tests.utils.factories import make_settings, price_data

pytestmark = pytest.mark.slow

VOL = 0.015  # the true daily volatility of every session below


def gbm(n: int, seed: int) -> pd.DataFrame:
    """Closes whose log returns are N(0, 0.015^2), with bars of a plausible daily range."""
    rng = np.random.default_rng(seed)
    close = 30.0 * np.exp(np.cumsum(rng.normal(0.0, VOL, n)))
    previous = np.r_[30.0, close[:-1]]
    open_ = previous * np.exp(rng.normal(0.0, VOL / 4, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, VOL / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, VOL / 2, n)))
    days = trading_days(pd.Timestamp("2010-01-04").date(), pd.Timestamp("2030-12-31").date())[:n]
    return pd.DataFrame(
        {"date": days, "open": open_, "high": high, "low": low, "close": close, "volume": 1e6}
    )


def test_the_80_interval_covers_500_held_out_sessions_within_the_binomial_99_band(
    tmp_path,
) -> None:
    settings = make_settings(tmp_path, max_epochs=4, hidden_size=8)
    train(price_data({"GBM": gbm(1200, seed=21)}), settings, progress=False)
    predictor = Predictor.load(settings)
    held_out = make_windows(gbm(560, seed=99), "GBM", predictor.window)
    assert len(held_out) == 500
    closes_only = replace(held_out, bars=np.full_like(held_out.bars, np.nan))
    for windows in (held_out, closes_only):  # with each day's range, and from closes alone
        scored = forecast_windows(predictor.forecaster, windows)
        y = np.log(scored.actual / scored.last)
        inside = (scored.quantiles[:, 1] <= y) & (y <= scored.quantiles[:, 3])
        low, high = binomial_band(500, 0.8, 0.99)
        assert low <= inside.mean() <= high, (inside.mean(), (low, high))
