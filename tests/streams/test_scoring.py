"""Scores, adaptive calibration and expiry in the pure pipeline: every forecast meets its close."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from core.config import DriftSettings, ForecastSettings, PerformanceSettings
from model.drift import build_baselines
from model.forecaster import Forecaster, WindowInput
from model.intervals import LEVELS, aci_step, level_key
from model.metrics import diebold_mariano
from producers.calendar import trading_days
from schemas.messages import PriceTick
from streams.pipeline import BatchResult, Incoming, process_batch
from streams.scoring import verdicts
from streams.state import ScoreHistory, TickerState
from tests.utils.factories import stand_in_bundle

WINDOW = 60
DAYS = [d.date() for d in trading_days(date(2019, 1, 2), date(2021, 12, 30))]
RULES = PerformanceSettings()


def closes(n: int, seed: int = 5, vol: float = 0.015) -> np.ndarray:
    return 20.0 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, vol, n)))


def forecaster(version: str = "1", **settings: object) -> Forecaster:
    baselines = build_baselines({"AAA": closes(800, seed=1)})
    bundle = stand_in_bundle(WINDOW, baselines)
    return Forecaster(
        bundle, "tickcast-lstm", version, ForecastSettings(**settings), DriftSettings()
    )


def messages(
    prices: np.ndarray, days: list[date], bars: bool = False, start: int = 0
) -> list[Incoming]:
    """One ticker's closes as they come off partition 0, from offset `start` on."""
    ticks = []
    for price, day in zip(prices, days, strict=True):
        bar = {"open": price * 0.999, "high": price * 1.01, "low": price * 0.99} if bars else {}
        tick = PriceTick(ticker="AAA", date=day, close=float(price), source="test", **bar)
        offset = start + len(ticks)
        ticks.append(Incoming(b"AAA", tick.model_dump_json().encode(), "prices", 0, offset))
    return ticks


def replay(batch: list[Incoming], model: Forecaster, size: int = 7, state=None) -> tuple:
    states = {"AAA": state} if state else {}
    total = BatchResult()
    for start in range(0, len(batch), size):
        result = process_batch(
            batch[start : start + size],
            lambda t: states.get(t, TickerState()),
            model,
            WINDOW,
            RULES,
        )
        states.update(result.states)
        total.forecasts += result.forecasts
        total.scores += result.scores
        total.alerts += result.alerts
        total.expired += result.expired
    return total, states["AAA"]


def test_70_closes_give_11_forecasts_and_10_scores_each_with_its_actual_close() -> None:
    prices = closes(70)
    result, state = replay(messages(prices, DAYS[:70]), forecaster())
    assert len(result.forecasts) == 11 and len(result.scores) == 10
    forecasts = {f.id: f for f in result.forecasts}
    assert len(forecasts) == 11  # ids are unique
    actual = dict(zip(DAYS[:70], prices.tolist(), strict=True))
    for n, score in enumerate(result.scores, start=1):
        forecast = forecasts[score.forecast_id]
        assert score.target_date == forecast.target_date and score.as_of == forecast.as_of
        assert score.actual_close == actual[score.target_date]
        assert score.error == pytest.approx(score.actual_close - forecast.predicted_close)
        assert score.naive_error == pytest.approx(score.actual_close - forecast.last_close)
        assert score.pct_error == pytest.approx(100 * score.error / score.actual_close)
        q = forecast.quantiles
        assert score.covered_80 == (q["0.1"] <= score.actual_close <= q["0.9"])
        assert score.covered_95 == (q["0.025"] <= score.actual_close <= q["0.975"])
        assert score.rolling["20"].n == score.rolling["60"].n == n
    assert state.outstanding is not None and state.outstanding.as_of == DAYS[69]  # waits


def test_the_score_holds_the_mean_pinball_over_the_five_levels_on_log_returns() -> None:
    result, _ = replay(messages(closes(62), DAYS[:62]), forecaster())
    forecast, score = result.forecasts[0], result.scores[0]
    y = math.log(score.actual_close / forecast.last_close)
    losses = [
        max(tau * (y - q), (tau - 1) * (y - q))
        for tau, q in ((t, forecast.return_quantiles[level_key(t)]) for t in LEVELS)
    ]
    assert score.pinball == pytest.approx(sum(losses) / 5, rel=1e-12)


def test_each_miss_moves_the_ticker_coverages_by_the_aci_step() -> None:
    model = forecaster()
    result, state = replay(messages(closes(75), DAYS[:75]), model)
    nominal = np.array([0.8, 0.95])
    effective = nominal.copy()
    by_id = {f.id: f for f in result.forecasts}
    for score in result.scores:
        forecast = by_id[score.forecast_id]
        y = math.log(score.actual_close / forecast.last_close)
        q = forecast.return_quantiles
        inside = np.array(
            [q[low] <= y <= q[high] for low, high in (("0.1", "0.9"), ("0.025", "0.975"))], float
        )
        assert inside.tolist() == [score.covered_80, score.covered_95]
        effective = aci_step(effective, nominal, inside, model.settings.aci_gamma)
    assert state.calibration.version == "1"
    np.testing.assert_allclose(state.calibration.coverages, effective, rtol=0, atol=1e-15)
    assert not np.allclose(state.calibration.coverages, nominal)  # it did move


def test_the_first_stream_forecast_equals_the_split_conformal_one() -> None:
    model = forecaster()
    prices = closes(60)
    result, _ = replay(messages(prices, DAYS[:60]), model)
    [streamed] = result.forecasts
    [direct] = model.forecast([WindowInput(prices, "AAA", DAYS[59])])
    assert streamed.interval_method == "aci" and direct.interval_method == "split-conformal"
    assert streamed.quantiles == direct.quantiles  # ACI starts at the nominal coverages
    assert streamed.predicted_close == direct.predicted_close


def test_a_close_past_the_target_date_expires_the_forecast_unscored() -> None:
    days = DAYS[:61] + DAYS[62:70]  # the session after DAYS[60] never arrives
    result, _ = replay(messages(closes(69), days), forecaster())
    # 10 forecasts: one expired, eight scored, and the last still waits for its close.
    assert result.expired == 1
    assert len(result.forecasts) == 10 and len(result.scores) == 8
    assert DAYS[61] not in {s.target_date for s in result.scores}


def test_a_model_swap_restarts_calibration_and_the_rolling_figures() -> None:
    prices = closes(90)
    _, state = replay(messages(prices[:80], DAYS[:80]), forecaster("1"))
    assert state.calibration.version == "1" and state.history.version == "1"
    later = messages(prices[80:], DAYS[80:90], start=80)
    second, after = replay(later, forecaster("2"), state=state)
    assert [f.model_version for f in second.forecasts] == ["2"] * 10
    # The v1 forecast of DAYS[79] is still scored with the first close; then v2 starts afresh.
    assert [s.model_version for s in second.scores] == ["1"] + ["2"] * 9
    assert second.scores[1].rolling["60"].n == 1
    assert after.history.version == "2" and after.calibration.version == "2"
    assert len(after.calibration.coverages) == 2  # the 80% and 95% intervals


def test_scoring_off_sends_split_conformal_forecasts_and_no_scores() -> None:
    result, state = replay(messages(closes(70), DAYS[:70]), forecaster(scoring=False))
    assert len(result.forecasts) == 11 and result.scores == []
    assert {f.interval_method for f in result.forecasts} == {"split-conformal"}
    assert state.outstanding is None


def test_a_replay_in_one_batch_or_in_sevens_gives_the_same_outputs() -> None:
    batch = messages(closes(120), DAYS[:120], bars=True)
    whole, _ = replay(batch, forecaster(), size=len(batch))
    sevens, _ = replay(batch, forecaster(), size=7)
    dump = lambda items: [m.model_dump(exclude={"produced_at"}) for m in items]  # noqa: E731
    assert dump(whole.forecasts) == dump(sevens.forecasts)
    assert dump(whole.scores) == dump(sevens.scores)
    assert dump(whole.alerts) == dump(sevens.alerts)


def test_the_state_survives_its_json_round_trip() -> None:
    _, state = replay(messages(closes(80), DAYS[:80], bars=True), forecaster())
    restored = TickerState.from_json(state.to_json())
    assert restored.outstanding == state.outstanding
    assert restored.calibration == state.calibration
    assert restored.history == state.history
    assert replace(restored, window=state.window) == state


def test_the_history_keeps_the_last_sessions_and_restarts_with_a_new_version() -> None:
    history = ScoreHistory()
    for i in range(100):
        history = history.add("1", (float(i), 1.0, True, False, 0.1), keep=60)
        assert len(history.rows) == min(i + 1, 60)
    assert history.rows[0, 0] == 40.0 and history.rows[-1].tolist() == [99.0, 1.0, 1.0, 0.0, 0.1]
    assert len(history.add("2", (1.0, 1.0, True, True, 0.0), keep=60).rows) == 1
    with pytest.raises(ValueError):
        history.rows[0, 0] = 0.0  # shared between states: never written in place


def test_a_history_stored_by_an_older_worker_with_booleans_still_reads() -> None:
    stored: dict = {"window": [], "history": {"version": "1", "rows": []}}
    stored["history"]["rows"] = [[0.5, 0.4, True, False, 0.02], [0.3, 0.6, False, True, 0.01]]
    restored = TickerState.from_json(stored)
    assert restored.history.rows.tolist() == [
        [0.5, 0.4, 1.0, 0.0, 0.02],
        [0.3, 0.6, 0.0, 1.0, 0.01],
    ]


def test_per_level_state_of_an_older_worker_is_scored_and_aci_restarts_at_nominal() -> None:
    prices = closes(62)
    _, state = replay(messages(prices[:61], DAYS[:61]), forecaster())
    stored = state.to_json()
    stored["calibration"] = {"version": "1", "levels": [0.02, 0.09, 0.5, 0.91, 0.98]}
    for key in ("center", "coverages", "radii"):  # an older worker's forecast had none
        del stored["outstanding"][key]
    older = TickerState.from_json(stored)
    assert older.calibration.coverages == () and older.outstanding.radii == ()
    result, after = replay(messages(prices[61:], DAYS[61:62], start=61), forecaster(), state=older)
    assert [s.forecast_id for s in result.scores] == [state.outstanding.id]  # still scored
    assert after.calibration.coverages == (0.8, 0.95)  # the nominal ones, not the old levels
    [streamed] = result.forecasts
    [direct] = forecaster().forecast([WindowInput(prices[2:62], "AAA", DAYS[61])])
    assert streamed.quantiles == direct.quantiles


def _history(model: np.ndarray, naive: np.ndarray, inside: float = 0.8) -> np.ndarray:
    n = len(model)
    covered = (np.arange(n) < round(inside * n)).astype(float)
    return np.column_stack([model, naive, covered, np.ones(n), np.full(n, 0.01)])


def test_the_skill_verdict_is_the_one_sided_diebold_mariano_test() -> None:
    rules = PerformanceSettings()
    naive = np.abs(np.random.default_rng(8).normal(0, 1, 60))
    worse = verdicts(_history(naive * 1.5, naive), rules)["skill"]
    assert worse.failing
    [p, mase] = worse.describe()
    expected = diebold_mariano(naive * 1.5, naive, power=1, alternative="greater").pvalue
    assert p.value == expected < rules.skill_p and mase.value == pytest.approx(1.5)
    same = verdicts(_history(naive, naive), rules)["skill"]  # a model shrunk to naive
    assert not same.failing and same.describe()[0].value == 1.0
    better = verdicts(_history(naive * 0.9, naive), rules)["skill"]
    assert not better.failing and better.describe()[0].value > 0.5
    assert verdicts(_history(naive[:59], naive[:59]), rules) == {}  # too few sessions yet


def test_a_skill_p_of_one_half_or_more_is_refused() -> None:
    with pytest.raises(ValueError, match=r"less than 0\.5"):
        PerformanceSettings(skill_p=0.5)
