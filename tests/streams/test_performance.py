"""Performance alerts: a model that stops beating naive raises exactly one skill alert, and
one recovery when it earns its place again."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from backtest.engines import run_local
from core.config import PerformanceSettings, Settings
from model.predictor import Predictor
from producers.calendar import trading_days
from producers.publish import ticks_in_order
from tests.conftest import Learned

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def momentum(learned_ar1: Learned) -> Predictor:
    """A model that learnt AR(1) momentum (phi 0.6), so it beats naive on such returns."""
    predictor = learned_ar1.predictor
    assert predictor.bundle.calibration.shrink > 0  # the network's location is trusted
    return predictor


def regimes(phis: list[tuple[float, int]], seed: int = 4, vol: float = 0.015) -> pd.DataFrame:
    """Closes whose log returns follow an AR(1) whose coefficient changes between blocks."""
    rng = np.random.default_rng(seed)
    returns, previous = [], 0.0
    for phi, n in phis:
        for noise in rng.normal(0.0, vol, n):
            previous = phi * previous + noise
            returns.append(previous)
    close = 20.0 * np.exp(np.cumsum(returns))
    days = trading_days(date(2015, 1, 2), date(2030, 12, 31))[: len(close)]
    return pd.DataFrame(
        {"date": days, "open": close, "high": close, "low": close, "close": close, "volume": 1.0}
    )


def test_a_model_worse_than_naive_alerts_once_on_skill_then_recovers(momentum) -> None:
    # momentum pays (the model beats naive), then returns reverse (it loses), then pays again
    frame = regimes([(0.6, 150), (-0.6, 150), (0.6, 260)])
    rules = PerformanceSettings()
    # the worker's own batch code, in process: the local backtest engine
    result = run_local(ticks_in_order({"REV": frame}, "test"), momentum.forecaster, Settings())
    skill = [a for a in result.alerts if a.kind == "performance" and a.reason == "skill"]
    assert [a.state for a in skill] == ["entered", "recovered"], [(a.as_of, a.state) for a in skill]
    entered, recovered = skill
    reversal, back = frame["date"].iloc[150].date(), frame["date"].iloc[300].date()
    assert reversal < entered.as_of < back < recovered.as_of
    dm = {s.name: s for s in entered.statistics}["dm_pvalue"]
    assert dm.drift and dm.value < rules.skill_p
    healed = {s.name: s for s in recovered.statistics}["dm_pvalue"]
    assert not healed.drift and healed.value >= rules.skill_p  # the statistics that recovered
    by_day = {s.target_date: s for s in result.scores}
    assert by_day[entered.as_of].rolling["60"].mase > 1.0
