"""The cyclic collector is paused over a block and comes back as it was, also on error."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import date

import numpy as np
import pandas as pd
import pytest

from backtest.engines import run_local
from core.collector import collector_paused
from core.config import DriftSettings, ForecastSettings, Settings
from model.drift import build_baselines
from model.forecaster import Forecaster
from producers.calendar import trading_days
from producers.publish import ticks_in_order
from tests.utils.factories import stand_in_bundle


@pytest.fixture
def collecting() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def test_the_block_runs_without_the_collector_and_it_comes_back(collecting) -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_in_the_block_still_brings_it_back(collecting) -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_paused_outside_stays_paused(collecting) -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the outer pause is not ended by the inner block


def test_the_local_engine_runs_each_batch_paused_and_collects_after(collecting) -> None:
    rng = np.random.default_rng(3)
    close = 20.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 120)))
    days = trading_days(date(2020, 1, 2), date(2021, 12, 31))[: len(close)]
    frame = pd.DataFrame(
        {"date": days, "open": close, "high": close, "low": close, "close": close, "volume": 1.0}
    )
    baselines = build_baselines({"BASE": 20.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 500)))})
    real = Forecaster(stand_in_bundle(60, baselines), "m", "1", ForecastSettings(), DriftSettings())
    seen: list[bool] = []

    class Watching(Forecaster):
        def forecast(self, inputs, **options):  # type: ignore[no-untyped-def]
            seen.append(gc.isenabled())
            return real.forecast(inputs, **options)

    watching = Watching(real.bundle, real.name, real.version, real.settings, real.drift)
    settings = Settings().with_kafka(batch_size=25)
    replay = run_local(ticks_in_order({"AAA": frame}, "test"), watching, settings)
    assert len(replay.forecasts) == 120 - 59
    assert seen and not any(seen)  # every batch's forward pass ran with the collector paused
    assert gc.isenabled()
