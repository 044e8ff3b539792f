"""Synthetic and real closes of one ticker never share state, and forecasts say which they are."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from core.config import DriftSettings, ForecastSettings, PerformanceSettings
from model.drift import build_baselines
from model.forecaster import Forecaster
from producers.calendar import trading_days
from schemas.messages import ModelEvent, PriceTick, TrainedOn
from streams.events import concerns
from streams.pipeline import Incoming, process_batch
from streams.state import TickerState
from tests.utils.factories import stand_in_bundle

WINDOW = 60
DAYS = [d.date() for d in trading_days(date(2019, 1, 2), date(2019, 12, 30))][:80]
LINEAGE = TrainedOn(source_kind="csv", tickers=["AAA"], start="2010-01-04", end="2018-12-28")


@pytest.fixture(scope="module")
def forecaster() -> Forecaster:
    calm = {"AAA": 20 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 500)))}
    bundle = stand_in_bundle(WINDOW, build_baselines(calm))
    return Forecaster(bundle, "m", "1", ForecastSettings(), DriftSettings(), LINEAGE)


def replay(forecaster: Forecaster, store: dict, synthetic: bool, offset: int, seed: int):
    closes = 20 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, len(DAYS))))
    batch = [
        Incoming(
            b"AAA",
            PriceTick(ticker="AAA", date=day, close=float(c), source="x", synthetic=synthetic)
            .model_dump_json()
            .encode(),
            "prices",
            0,
            offset + i,
        )
        for i, (day, c) in enumerate(zip(DAYS, closes, strict=True))
    ]
    result = process_batch(
        batch, lambda t: store.get(t, TickerState()), forecaster, WINDOW, PerformanceSettings()
    )
    store.update(result.states)
    return result


def test_a_real_replay_after_a_synthetic_one_is_forecast_not_skipped(forecaster) -> None:
    store: dict[str, TickerState] = {}
    invented = replay(forecaster, store, synthetic=True, offset=0, seed=1)
    assert len(invented.forecasts) == len(DAYS) - WINDOW + 1
    assert all(f.synthetic for f in invented.forecasts)
    assert store["AAA"].synthetic

    real = replay(forecaster, store, synthetic=False, offset=len(DAYS), seed=2)

    assert (real.stale, real.duplicates, real.dead_letters) == (0, 0, [])
    assert len(real.forecasts) == len(DAYS) - WINDOW + 1, "a fresh window, not the synthetic one"
    assert not any(f.synthetic for f in real.forecasts)
    assert {f.id for f in real.forecasts}.isdisjoint(f.id for f in invented.forecasts)
    assert real.forecasts[0].trained_on == LINEAGE
    # the first real forecast reads real closes only
    assert real.forecasts[0].last_close != invented.forecasts[0].last_close


def test_a_kind_change_keeps_the_position_so_redelivery_is_still_skipped() -> None:
    state = replace(TickerState(), position=(0, 41))
    fresh = state.for_kind(True)
    assert (fresh.synthetic, fresh.position) == (True, (0, 41))
    assert fresh.seen(0, 41) and fresh.for_kind(True) is fresh
    assert TickerState.from_json(fresh.to_json()) == fresh


def test_a_process_follows_only_the_alias_it_serves() -> None:
    event = ModelEvent(model_name="m", model_version="4", alias="synthetic")
    assert concerns(event, "m", "synthetic")
    assert not concerns(event, "m", "champion")
    assert not concerns(event, "m", "3"), "a pinned version follows no alias"
    assert not concerns(event, "other", "synthetic")


def test_a_refused_close_of_the_other_kind_leaves_the_window_alone(forecaster) -> None:
    store: dict[str, TickerState] = {}
    replay(forecaster, store, synthetic=True, offset=0, seed=1)
    held = store["AAA"].window
    bad = PriceTick(ticker="AAA", date="2199-12-31", close=10.0, source="x")  # real, refused
    result = process_batch(
        [Incoming(b"AAA", bad.model_dump_json().encode(), "prices", 0, len(DAYS))],
        lambda t: store.get(t, TickerState()),
        forecaster,
        WINDOW,
        PerformanceSettings(),
    )
    assert len(result.dead_letters) == 1
    assert result.states["AAA"].window == held and result.states["AAA"].synthetic
