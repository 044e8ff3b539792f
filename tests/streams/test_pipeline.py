"""process_batch: raw price messages in; forecasts, drift alerts, dead letters and state out."""

from __future__ import annotations

import json
from datetime import date, timedelta
from itertools import cycle

import numpy as np
import pytest

from core.config import DriftSettings, ForecastSettings, PerformanceSettings
from model.drift import build_baselines
from model.forecaster import Forecaster
from model.predictor import Predictor
from producers.calendar import next_trading_day, trading_days
from schemas.messages import PriceTick
from streams.pipeline import Incoming, ModelCallFailed, process_batch
from streams.state import TickerState
from tests.utils.factories import stand_in_bundle

TICKERS = ["AAA", "BBB", "CCC"]
N = 200
WINDOW = 60
DAYS = [d.date() for d in trading_days(date(2019, 1, 2), date(2021, 12, 30))]
DRIFT = DriftSettings()
RULES = PerformanceSettings()
NAME = "tickcast-lstm"
NAMES = {"ks_pvalue", "volatility_ratio", "mean_return_z"}
# A calendar day inside the window that is no session: a close dated there is a late close.
GAP = next(
    DAYS[50] + timedelta(days=k) for k in range(1, 9) if DAYS[50] + timedelta(days=k) not in DAYS
)


def _closes(n: int, vol: float, seed: int, start: float = 20.0) -> np.ndarray:
    return start * np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, vol, n)))


def _tick(ticker: str, day: date, close: float) -> bytes:
    return PriceTick(ticker=ticker, date=day, close=close, source="test").model_dump_json().encode()


def _incoming(items: list[tuple[bytes | None, bytes | None]], start: int = 1000) -> list[Incoming]:
    """Messages as they come off partition 1 of `prices`, from offset `start` on."""
    return [Incoming(k, v, "prices", 1, start + i) for i, (k, v) in enumerate(items)]


@pytest.fixture(scope="module")
def predictor() -> Forecaster:
    calm = {t: _closes(1000, 0.01, seed) for seed, t in enumerate([*TICKERS, "CALM"])}
    bundle = stand_in_bundle(WINDOW, build_baselines(calm))  # each forecast reads its window
    return Forecaster(bundle, NAME, "1", ForecastSettings(), DRIFT)


@pytest.fixture(scope="module")
def series() -> dict[str, np.ndarray]:
    return {t: _closes(N, 0.015, 100 + i) for i, t in enumerate(TICKERS)}


def _messages(series: dict[str, np.ndarray]) -> list[Incoming]:
    items = [
        (t.encode(), _tick(t, DAYS[i], float(c[i]))) for i in range(N) for t, c in series.items()
    ]
    return _incoming(items)


def _replay(messages, predictor, sizes, states=None):
    states = {} if states is None else states
    forecasts, alerts, dead, duplicates, sizes, start = [], [], [], 0, cycle(sizes), 0
    while start < len(messages):
        batch = messages[start : start + next(sizes)]
        start += len(batch)
        result = process_batch(
            batch, lambda t: states.get(t, TickerState()), predictor, WINDOW, RULES
        )
        states.update(result.states)
        forecasts += result.forecasts
        alerts += result.alerts
        dead += result.dead_letters
        duplicates += result.duplicates
    return forecasts, alerts, dead, duplicates, states


def test_forecasts_match_predictor_on_each_window(predictor, series):
    sizes = [1, 5, 17, 50, 3, 130]
    forecasts, _, dead, duplicates, states = _replay(_messages(series), predictor, sizes)
    assert len(forecasts) == len(TICKERS) * (N - WINDOW + 1)
    assert dead == [] and duplicates == 0
    returns = []
    for ticker, closes in series.items():
        mine = [f for f in forecasts if f.ticker == ticker]
        assert [f.as_of for f in mine] == DAYS[WINDOW - 1 : N]
        windows = np.stack([closes[i - WINDOW + 1 : i + 1] for i in range(WINDOW - 1, N)])
        expected = Predictor(predictor, {}, {}, {}).predict(windows)
        assert [f.predicted_close for f in mine] == expected.tolist()  # to the last bit
        np.testing.assert_allclose([f.last_close for f in mine], windows[:, -1], rtol=1e-12)
        for f in mine:
            assert f.target_date == next_trading_day(f.as_of) > f.as_of
            assert f.predicted_return == pytest.approx(np.log(f.predicted_close / f.last_close))
            assert (f.model_name, f.model_version) == (NAME, "1")
            assert f.drift.baseline == ticker
        returns += [f.predicted_return for f in mine]
        assert states[ticker].window.closes == tuple(closes[-WINDOW:])
    assert np.std(returns) > 0  # the check above compares real, window-dependent forecasts


def test_micro_batching_changes_nothing(predictor, series):
    messages = _messages(series)
    whole = _replay(messages, predictor, [len(messages)])
    sevens = _replay(messages, predictor, [7])
    assert len(whole[0]) == len(sevens[0]) == len(TICKERS) * (N - WINDOW + 1)
    # Each window runs through the network on its own, so batch shapes change no bit.
    for one, other in zip(whole[0], sevens[0], strict=True):
        assert one.model_dump(exclude={"produced_at"}) == other.model_dump(exclude={"produced_at"})
    assert [a.model_dump(exclude={"produced_at"}) for a in whole[1]] == [
        a.model_dump(exclude={"produced_at"}) for a in sevens[1]
    ]
    assert whole[4] == sevens[4]


def _raw(ticker="AAA", day=DAYS[70], **fields) -> bytes:
    return json.dumps({"ticker": ticker, "date": day.isoformat(), "source": "t", **fields}).encode()


BAD = [
    ("not json", b"AAA", b"not json", "Invalid JSON"),
    ("empty", b"AAA", b"", "empty message"),
    ("none", b"AAA", None, "empty message"),
    ("missing close", b"AAA", _raw(), "close: Field required"),
    ("string close", b"AAA", _raw(close="1.5"), "close: Input should be a valid number"),
    ("nan", b"AAA", _raw(close=float("nan")), "close:"),
    ("infinity", b"AAA", _raw(close=float("inf")), "finite"),
    ("zero", b"AAA", _raw(close=0), "greater than 0"),
    ("negative", b"AAA", _raw(close=-1), "greater than 0"),
    ("version 2", b"AAA", _raw(close=1.0, schema_version=2), "schema_version"),
    ("key", b"BBB", _raw(close=1.0), "does not match ticker 'AAA'"),
    ("correction", b"AAA", _raw(day=DAYS[40], close=123.0), f"correction for {DAYS[40]}"),
    ("late close", b"AAA", _raw(day=GAP, close=1.0), f"late close for {GAP}"),
    ("lowercase ticker", b"aaa", _raw(close=1.0, ticker="aaa"), "does not match ^[A-Z0-9"),
    ("newline ticker", b"A\nA", _raw(close=1.0, ticker="A\nA"), "does not match ^[A-Z0-9"),
    ("unicode ticker", "AÇÃO".encode(), _raw(close=1.0, ticker="AÇÃO"), "does not match ^[A"),
    ("huge close", b"AAA", _raw(close=1e300), "close 1e+300 is outside the plausible"),
    ("tiny close", b"AAA", _raw(close=1e-300), "close 1e-300 is outside the plausible"),
    ("huge high", b"AAA", _raw(close=1.0, high=1e300), "high 1e+300 is outside"),
    ("future date", b"AAA", _raw(day=date(2030, 1, 2), close=1.0), "after the next trading day"),
    ("year 9999", b"AAA", _raw(day=date(9999, 12, 31), close=1.0), "after the next trading day"),
    ("year 1500", b"AAA", _raw(day=date(1500, 1, 3), close=1.0), "outside the trading calendar"),
]


@pytest.fixture
def held(predictor, series) -> dict[str, TickerState]:
    """AAA after DAYS[0..64]: its window holds DAYS[5..64]."""
    items = [(b"AAA", _tick("AAA", DAYS[i], float(series["AAA"][i]))) for i in range(65)]
    return _replay(_incoming(items), predictor, [65])[4]


def _valid(series, i: int) -> tuple[bytes, bytes]:
    return b"AAA", _tick("AAA", DAYS[i], float(series["AAA"][i]))


@pytest.mark.parametrize(("key", "value", "reason"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_message_goes_to_dlq_between_valid_ones(predictor, series, held, key, value, reason):
    batch = _incoming([_valid(series, 65), (key, value), _valid(series, 66)], start=2000)
    result = process_batch(batch, lambda t: held.get(t, TickerState()), predictor, WINDOW, RULES)
    assert [f.as_of for f in result.forecasts] == [DAYS[65], DAYS[66]]
    assert result.accepted == 2 and result.duplicates == 0
    [letter] = result.dead_letters
    assert reason in letter.error
    assert (letter.source_topic, letter.partition, letter.offset) == ("prices", 1, 2001)
    assert letter.key == (key.decode() if key is not None else None)
    assert letter.payload == (value or b"").decode()
    assert result.states["AAA"].window.dates[-1] == DAYS[66]


def test_exact_duplicate_is_counted_not_forecast_nor_dead(predictor, series, held):
    batch = _incoming([_valid(series, i) for i in (64, 30, 65, 65)], start=2000)
    result = process_batch(batch, lambda t: held.get(t, TickerState()), predictor, WINDOW, RULES)
    assert result.duplicates == 3
    assert result.dead_letters == []
    assert [f.as_of for f in result.forecasts] == [DAYS[65]]
    assert result.accepted == 1


def test_all_bad_kinds_interleaved_with_valid_messages(predictor, series, held):
    items, valid_days = [], []
    for n, (_, key, value, _) in enumerate(BAD):
        items += [_valid(series, 65 + n), (key, value), _valid(series, 64 + n)]  # last is a dup
        valid_days.append(DAYS[65 + n])
    batch = _incoming(items, start=2000)
    forecasts, _, dead, duplicates, states = _replay(batch, predictor, [4, 9], dict(held))
    assert [f.as_of for f in forecasts] == valid_days
    assert duplicates == len(BAD)
    assert [d.offset for d in dead] == [m.offset for m in batch[1::3]]
    for letter, (_, key, value, reason) in zip(dead, BAD, strict=True):
        assert reason in letter.error
        assert letter.key == (key.decode() if key is not None else None)
        assert letter.payload == (value or b"").decode()
    assert states["AAA"].window.last_date == valid_days[-1]


@pytest.mark.parametrize("seed", [11, 12, 13])  # 11 flickered with enter_after=1, recover_after=5
def test_one_alert_on_entering_drift_and_one_on_recovering(predictor, seed):
    calm1, wild, calm2 = 150, 80, 200
    rng = np.random.default_rng(seed)
    returns = np.concatenate(
        [rng.normal(0, 0.01, calm1), rng.normal(0, 0.04, wild), rng.normal(0, 0.01, calm2)]
    )
    closes = 30.0 * np.exp(np.cumsum(returns))
    batch = _incoming([(b"CALM", _tick("CALM", DAYS[i], float(c))) for i, c in enumerate(closes)])
    forecasts, alerts, dead, _, states = _replay(batch, predictor, [25])
    assert dead == [] and len(forecasts) == len(closes) - WINDOW + 1
    alerts = [a for a in alerts if a.kind == "data"]  # the stand-in model also fails on skill
    assert [a.state for a in alerts] == ["entered", "recovered"]
    entered, recovered = alerts
    assert DAYS[calm1] < entered.as_of <= DAYS[calm1 + wild]
    assert DAYS[calm1 + wild] < recovered.as_of
    assert not any(f.drift.drift for f in forecasts if f.as_of < DAYS[calm1])
    by_day = {f.as_of: f for f in forecasts}
    for alert, drifting in ((entered, True), (recovered, False)):
        assert by_day[alert.as_of].drift.drift is drifting
        assert (alert.ticker, alert.model_name, alert.model_version) == ("CALM", NAME, "1")
    assert {s.name for s in entered.statistics} == NAMES
    assert entered.statistics == by_day[entered.as_of].drift.statistics
    # A recovery quotes what breached on entry and is back inside its threshold, as it is now.
    breached = {s.name for s in entered.statistics if s.drift}
    now = {s.name: s for s in by_day[recovered.as_of].drift.statistics}
    assert recovered.statistics and {s.name for s in recovered.statistics} <= breached
    assert all(s == now[s.name] and not s.drift for s in recovered.statistics)
    vol = {s.name: s for s in entered.statistics}["volatility_ratio"]
    assert vol.drift and vol.value > DRIFT.vol_ratio_high
    assert not states["CALM"].drift.drifting


def test_the_table_keeps_more_closes_than_the_model_reads(predictor, series):
    """With 90 closes kept, forecasts read the last 60 and equal those of a 60-close table."""
    messages = _messages(series)
    narrow = _replay(messages, predictor, [50])
    states: dict[str, TickerState] = {}
    wide_forecasts = []
    for start in range(0, len(messages), 50):
        batch = messages[start : start + 50]
        result = process_batch(batch, lambda t: states.get(t, TickerState()), predictor, 90, RULES)
        states.update(result.states)
        wide_forecasts += result.forecasts
    assert [f.model_dump(exclude={"produced_at"}) for f in wide_forecasts] == [
        f.model_dump(exclude={"produced_at"}) for f in narrow[0]
    ]
    assert all(len(state.window) == 90 for state in states.values())
    assert states["AAA"].window.closes == tuple(series["AAA"][-90:])


def test_an_implausible_close_goes_to_the_dlq(predictor, series, held):
    batch = _incoming([_valid(series, 65), (b"AAA", _tick("AAA", DAYS[66], 2e7))], start=2000)
    result = process_batch(batch, lambda t: held.get(t, TickerState()), predictor, WINDOW, RULES)
    assert [f.as_of for f in result.forecasts] == [DAYS[65]]
    [letter] = result.dead_letters
    assert "close 2e+07 is outside the plausible prices 0.0001..1e+07" in letter.error


def test_a_redelivered_batch_changes_nothing_and_sends_nothing(predictor, series):
    """Kafka redelivers from the last committed offset after a crash: its effects are in the
    state already, so even closes older than the window are neither forecast nor dead."""
    messages = _messages(series)
    *_, states = _replay(messages, predictor, [50])
    again = process_batch(messages, lambda t: states[t], predictor, WINDOW, RULES)
    assert again.redelivered == len(messages)
    assert (again.forecasts, again.dead_letters, again.alerts, again.scores) == ([], [], [], [])
    assert again.duplicates == 0
    assert {t: s.window for t, s in again.states.items()} == {}  # nothing to write back


def test_republished_history_is_skipped_as_duplicate_or_stale_never_dead(predictor, series):
    """A producer sends the same 200 closes per ticker again, at new offsets: the window holds
    the last 60 (duplicates); the rest are older than the full window (stale)."""
    messages = _messages(series)
    forecasts, _, dead, _, states = _replay(messages, predictor, [50])
    assert dead == [] and len(forecasts) == len(TICKERS) * (N - WINDOW + 1)
    again = _incoming([(m.key, m.value) for m in messages], start=1000 + len(messages))
    result = process_batch(again, lambda t: states[t], predictor, WINDOW, RULES)
    assert (result.forecasts, result.dead_letters, result.scores, result.alerts) == ([], [], [], [])
    assert result.duplicates == len(TICKERS) * WINDOW
    assert result.stale == len(TICKERS) * (N - WINDOW)
    assert all(s.window == states[t].window for t, s in result.states.items())


def test_a_failure_handling_one_close_dead_letters_only_that_close(
    predictor, series, held, monkeypatch
):
    import streams.pipeline as pipeline

    real = pipeline.settle

    def settle(state, tick, *args):
        if tick.date == DAYS[66]:
            raise ZeroDivisionError("a bug met by this close")
        return real(state, tick, *args)

    monkeypatch.setattr(pipeline, "settle", settle)
    batch = _incoming([_valid(series, i) for i in (65, 66, 67)], start=2000)
    result = process_batch(batch, lambda t: held.get(t, TickerState()), predictor, WINDOW, RULES)
    assert [f.as_of for f in result.forecasts] == [DAYS[65], DAYS[67]]
    [letter] = result.dead_letters
    assert letter.offset == 2001 and "ZeroDivisionError: a bug met by this close" in letter.error


def test_a_failed_forward_pass_dead_letters_nothing_and_names_the_offsets(
    predictor, series, held, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Forecaster, "forecast", broken)
    batch = _incoming([_valid(series, 65), _valid(series, 66)], start=2000)
    with pytest.raises(ModelCallFailed, match=r"\(1, 2000\) to \(1, 2001\)\): out of memory"):
        process_batch(batch, lambda t: held.get(t, TickerState()), predictor, WINDOW, RULES)


def test_dates_are_bounded_by_the_next_trading_day_unless_future_dates_are_on(predictor):
    friday = date(2024, 6, 28)  # the next session is Monday 1 July
    closes = _closes(WINDOW + 2, 0.01, 3)
    days = [*DAYS[:WINDOW], date(2024, 7, 1), date(2024, 7, 2)]
    items = [(b"AAA", _tick("AAA", d, float(c))) for d, c in zip(days, closes, strict=True)]
    result = process_batch(
        _incoming(items), lambda t: TickerState(), predictor, WINDOW, RULES, friday
    )
    assert [f.as_of for f in result.forecasts] == [DAYS[WINDOW - 1], date(2024, 7, 1)]
    [letter] = result.dead_letters
    assert "date 2024-07-02 is after the next trading day, 2024-07-01" in letter.error
    settings = ForecastSettings(future_dates=True)
    relaxed = Forecaster(predictor.bundle, NAME, "1", settings, DRIFT)
    result = process_batch(
        _incoming(items), lambda t: TickerState(), relaxed, WINDOW, RULES, friday
    )
    assert result.dead_letters == [] and len(result.forecasts) == 3
