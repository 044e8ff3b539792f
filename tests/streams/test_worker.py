"""The Faust worker against the embedded broker: forecasts, DLQ, restart, drift alerts, hot swap.

Also its consumer's fetches, which a restart needs to read only the partitions active when
they began, and its metrics endpoint, whose port may be taken by another worker on the host.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from core.config import KafkaSettings, Settings
from model.predictor import Predictor
from producers.calendar import next_trading_day, trading_days
from producers.publish import ticks_in_order
from producers.sources import load_prices
from schemas.messages import ModelEvent
from streams import metrics
from streams.app import SnapshotFetches, create_app
from streams.broker import free_port
from tests.streams.conftest import Bus, tick_json
from tests.streams.test_app import forecaster
from tests.utils.waiting import eventually


def synthetic_ticks(bus: Bus, tickers: list[str], n: int) -> tuple[list[tuple[str, bytes]], dict]:
    data = load_prices(
        "synthetic", tickers, bus.settings.data, date(2019, 1, 2), date(2021, 12, 30)
    )
    frames = {t: f.iloc[:n].reset_index(drop=True) for t, f in data.frames.items()}
    ticks = ticks_in_order(frames, "synthetic")
    return [(t.ticker, t.model_dump_json().encode()) for t in ticks], frames


@pytest.mark.broker
def test_every_close_after_warm_up_gets_one_forecast(bus: Bus) -> None:
    messages, frames = synthetic_ticks(bus, ["AAA", "BBB", "CCC"], 200)
    bus.start_worker()
    bus.publish(messages)
    forecasts = bus.collect("forecasts", 3 * 141)

    assert len(forecasts) == 3 * 141
    predictor = Predictor.load(bus.settings)
    for ticker, frame in frames.items():
        mine = sorted((f for f in forecasts if f["ticker"] == ticker), key=lambda f: f["as_of"])
        assert len(mine) == 141
        closes = frame["close"].to_numpy()
        windows = np.stack([closes[i : i + 60] for i in range(141)])
        expected = predictor.predict(windows)
        # float32 inference: a window's forecast may differ in the last bits with its batch's shape
        np.testing.assert_allclose([f["predicted_close"] for f in mine], expected, rtol=1e-8)
        assert [f["as_of"] for f in mine] == [d.date().isoformat() for d in frame["date"][59:200]]
        for forecast in mine:
            as_of = date.fromisoformat(forecast["as_of"])
            target = date.fromisoformat(forecast["target_date"])
            assert target == next_trading_day(as_of)
            assert len(trading_days(target, target)) == 1  # a B3 session
            assert forecast["model_version"] == predictor.version


@pytest.mark.broker
def test_bad_messages_go_to_the_dlq_and_valid_ones_still_forecast(bus: Bus) -> None:
    days = [d.date().isoformat() for d in trading_days(date(2024, 1, 2), date(2024, 6, 28))][:65]
    closes = 10 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 65)))
    valid = [("GOOD", tick_json("GOOD", d, float(c))) for d, c in zip(days, closes, strict=True)]
    bad = [
        ("GOOD", b"this is not json"),
        ("GOOD", b'{"ticker": "GOOD", "date": "2024-01-02", "source": "test"}'),
        ("GOOD", tick_json("GOOD", "2024-07-01", "1.5")),
        ("GOOD", b'{"ticker": "GOOD", "date": "2024-07-01", "close": NaN, "source": "t"}'),
        ("GOOD", tick_json("GOOD", "2024-07-01", -2.0)),
        ("GOOD", tick_json("GOOD", "2024-07-01", 3.0, schema_version=2)),
        ("OTHER", tick_json("GOOD", "2024-07-01", 3.0)),
    ]
    # After the window holds days[2:62]: a date older than the full window (stale, skipped),
    # a correction of a held close (dead), and an exact duplicate (skipped).
    late = [
        ("GOOD", tick_json("GOOD", "2023-12-28", 9.0)),
        ("GOOD", tick_json("GOOD", days[61], float(closes[61]) * 1.5)),
        ("GOOD", tick_json("GOOD", days[61], float(closes[61]))),
    ]
    stream = valid[:30] + bad + valid[30:62] + late + valid[62:]
    port = free_port()
    bus.start_worker(metrics_port=port)
    bus.publish(stream)

    forecasts = bus.collect("forecasts", 65 - 59)
    letters = bus.collect("dlq", len(bad) + 1)
    assert [f["as_of"] for f in forecasts] == days[59:]  # every valid close after warm-up
    reasons = [letter["error"] for letter in letters]
    for fragment in (
        "invalid price message",
        "close: Field required",
        "close: Input should be a valid number",
        "schema_version",
        "does not match ticker",
        "correction for",
    ):
        assert any(fragment in reason for reason in reasons), (fragment, reasons)
    assert any("greater than 0" in r for r in reasons) and sum("close:" in r for r in reasons) >= 4
    assert all(letter["source_topic"] == bus.topic("prices") for letter in letters)
    assert {letter["payload"] for letter in letters} >= {b"this is not json".decode()}
    assert len(letters) == len(bad) + 1  # the stale close and the duplicate are skipped
    assert all(p.poll() is None for p in bus.processes)  # the worker survived
    metrics = prometheus(port)
    assert metrics["tickcast_messages_in_total"] == len(stream)
    assert metrics["tickcast_forecasts_out_total"] == 6
    assert metrics["tickcast_dlq_total"] == len(bad) + 1
    assert metrics['tickcast_skipped_total{reason="duplicate"}'] == 1
    assert metrics['tickcast_skipped_total{reason="stale"}'] == 1
    assert metrics['tickcast_model_version{model="tickcast-lstm"}'] == 1


def prometheus(port: int) -> dict[str, float]:
    """The worker's /metrics as name{labels} -> value."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


@pytest.mark.broker
def test_a_killed_worker_resumes_from_the_changelog_and_scores_every_forecast(bus: Bus) -> None:
    messages, _ = synthetic_ticks(bus, ["AAA"], 150)
    small_batches = {"TICKCAST_KAFKA__BATCH_SIZE": "7"}  # many batches: the kill lands mid-way
    first = bus.start_worker("first.log", env=small_batches)
    bus.publish(messages[:100])
    assert len(bus.collect("forecasts", 30)) == 30  # still working through the first 100
    first.send_signal(signal.SIGKILL)
    first.wait()
    bus.start_worker("second.log", env=small_batches, verbose=True)  # its story, if it fails
    bus.publish(messages[100:])  # 50 closes: too few to warm up an empty window
    due = [json.loads(v)["date"] for _, v in messages[59:150]]
    # The new worker joins while the dead one is still a member, so its partitions come once
    # the embedded broker drops that member (10-20 s); the deadline leaves room for a loaded host.
    forecasts = bus.collect_until(
        "forecasts", lambda got: {f["as_of"] for f in got} >= set(due), timeout_s=150
    )
    missing = sorted(set(due) - {f["as_of"] for f in forecasts})
    assert not missing, f"{len(missing)} closes never forecast; see {bus.log_path('second.log')}"
    assert {f["as_of"] for f in forecasts} == set(due)  # after de-duplicating, none is missing
    scored = set(due[:-1])  # the last forecast waits for a close that has not come
    scores = bus.collect_until("forecast-scores", lambda got: {s["as_of"] for s in got} >= scored)
    assert {s["as_of"] for s in scores} == scored
    assert len({s["id"] for s in scores}) == len(scored)  # one id per forecast due
    # Anything sent twice carries its first delivery's id, for forecasts and scores alike.
    for messages_, key in ((forecasts, "as_of"), (scores, "forecast_id")):
        ids: dict[str, set[str]] = {}
        for message in messages_:
            ids.setdefault(message[key], set()).add(message["id"])
        assert all(len(found) == 1 for found in ids.values())
    forecast_ids = {f["as_of"]: f["id"] for f in forecasts}
    assert all(forecast_ids[s["as_of"]] == s["forecast_id"] for s in scores)


class LiveSetFetch:
    """A fetch that, like aiokafka's in the consumer thread, looks at the partitions it was
    given only once data arrives, while the worker's loop goes on pausing and resuming."""

    seen: set[str] | None = None

    async def _getmany(self, active_partitions: set[str] | None, timeout: float) -> dict:
        await asyncio.sleep(0)  # waiting for the broker
        self.seen = None if active_partitions is None else set(active_partitions)
        return {}


class SnapshotLiveSetFetch(SnapshotFetches, LiveSetFetch):
    pass


def partitions_read(consumer: LiveSetFetch) -> set[str] | None:
    """What a fetch begun with two active partitions reads, when recovery then pauses the
    changelog before it resumes the prices (the set is empty in between)."""

    async def scenario() -> set[str] | None:
        active = {"prices-2", "changelog-2"}
        fetch = asyncio.ensure_future(consumer._getmany(active, 1.0))
        await asyncio.sleep(0)
        active.clear()
        await fetch
        return consumer.seen

    return asyncio.run(scenario())


def test_a_fetch_reads_the_partitions_active_when_it_began() -> None:
    # Without the snapshot, the fetch reads the set emptied under it, and aiokafka's
    # Fetcher.fetched_records reads an empty set as every partition: it drained the prices
    # while they were paused, the restarted worker that skipped every close.
    assert partitions_read(LiveSetFetch()) == set()
    assert partitions_read(SnapshotLiveSetFetch()) == {"prices-2", "changelog-2"}


def test_a_fetch_with_no_active_partition_asks_the_broker_nothing() -> None:
    consumer = SnapshotLiveSetFetch()
    assert asyncio.run(consumer._getmany(set(), 1.0)) == {}
    assert consumer.seen is None  # never reached the fetch, which would read it as "all"


def test_the_worker_consumer_fetches_from_a_snapshot(tmp_path: Path) -> None:
    settings = Settings(  # never connected to
        data={"dir": tmp_path}, kafka={"bootstrap_servers": "127.0.0.1:9", "table_store": "memory"}
    )
    app = create_app(settings, forecaster(60, "1"))
    assert isinstance(app.consumer, SnapshotFetches)


@pytest.mark.broker
def test_70_closes_give_11_forecasts_and_10_scores_on_the_bus(bus: Bus) -> None:
    messages, frames = synthetic_ticks(bus, ["AAA"], 70)
    bus.start_worker()
    bus.publish(messages)
    forecasts = bus.collect("forecasts", 11)
    scores = bus.collect("forecast-scores", 10)
    assert len(forecasts) == 11 and len(scores) == 10
    assert bus.collect("forecast-scores", 11, timeout_s=3) == scores  # the 11th waits for its close
    frame = frames["AAA"]
    closes = dict(zip(frame["date"].dt.date.astype(str), frame["close"], strict=True))
    by_id = {f["id"]: f for f in forecasts}
    for score in scores:
        forecast = by_id[score["forecast_id"]]
        assert score["target_date"] == forecast["target_date"]
        assert score["actual_close"] == closes[score["target_date"]]
        assert score["predicted_close"] == forecast["predicted_close"]
        assert score["covered_80"] == (
            forecast["quantiles"]["0.1"] <= score["actual_close"] <= forecast["quantiles"]["0.9"]
        )
    assert {f["interval_method"] for f in forecasts} == {"aci"}


@pytest.mark.broker
def test_a_volatility_regime_change_alerts_once_each_way(bus: Bus) -> None:
    rng = np.random.default_rng(11)
    vol = np.r_[np.full(120, 0.015), np.full(80, 0.06), np.full(160, 0.015)]
    closes = 20 * np.exp(np.cumsum(rng.normal(0, 1, vol.size) * vol))
    days = trading_days(date(2020, 1, 2), date(2022, 12, 30))[: vol.size]
    frame = pd.DataFrame(
        {
            "date": days,
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": 1.0,
        }
    )
    ticks = ticks_in_order({"REGIME": frame}, "synthetic")
    bus.start_worker()
    bus.publish([(t.ticker, t.model_dump_json().encode()) for t in ticks])
    assert len(bus.collect("forecasts", vol.size - 59)) == vol.size - 59
    everything = bus.collect("drift-alerts", 20, timeout_s=5)
    alerts = [a for a in everything if a["kind"] == "data"]  # not the performance ones
    assert [a["state"] for a in alerts] == ["entered", "recovered"]
    assert all(a["schema_version"] == 2 and a["id"] for a in everything)
    assert alerts[0]["as_of"] > days[120].date().isoformat()
    assert any(s["drift"] for s in alerts[0]["statistics"])


def _announce(bus: Bus, version: str) -> None:
    event = ModelEvent(model_name="tickcast-lstm", model_version=version)
    bus.publish([("tickcast-lstm", event.model_dump_json().encode())], topic="model_events")


@pytest.mark.broker
def test_a_model_event_swaps_the_model_without_restart(bus: Bus) -> None:
    from model.training import train
    from tests.utils.factories import ar1_frame, price_data

    messages, _ = synthetic_ticks(bus, ["AAA"], 160)
    port = free_port()
    bus.start_worker(metrics_port=port)
    bus.publish(messages[:80])
    before = bus.collect("forecasts", 21)
    assert {f["model_version"] for f in before} == {"1"}
    new = train(
        price_data({"NEW": ar1_frame(n=300, seed=9)}), bus.settings, progress=False, promote=False
    )
    _announce(bus, new.model_version)
    gauge = 'tickcast_model_version{model="tickcast-lstm"}'
    eventually(
        lambda: prometheus(port)[gauge] == float(new.model_version),
        what=f"the worker serving v{new.model_version}",
    )
    bus.publish(messages[80:])
    after = bus.collect("forecasts", 101)
    assert [f["model_version"] for f in after[21:]] == [new.model_version] * 80


@pytest.mark.broker
def test_a_swap_to_a_wider_model_is_refused_and_forecasts_go_on(bus: Bus) -> None:
    from model.training import train
    from tests.utils.factories import ar1_frame, price_data

    messages, _ = synthetic_ticks(bus, ["AAA"], 100)
    port = free_port()
    bus.start_worker(metrics_port=port)
    bus.publish(messages[:70])
    assert len(bus.collect("forecasts", 11)) == 11
    wide = bus.settings.model_copy(
        update={"model": bus.settings.model.with_overrides({"window": 90})}
    )
    new = train(price_data({"NEW": ar1_frame(n=300, seed=9)}), wide, progress=False, promote=False)
    _announce(bus, new.model_version)
    eventually(
        lambda: prometheus(port)["tickcast_model_swaps_refused_total"] == 1,
        what="the swap refused",
    )
    log = bus.log_path().read_text()
    [line] = [row for row in log.splitlines() if "not switching to" in row]
    assert f"tickcast-lstm v{new.model_version}: it reads 90 closes" in line
    assert "the table keeps 60 per ticker" in line
    assert "Set TICKCAST_KAFKA__CLOSES_KEPT=90" in line
    bus.publish(messages[70:])
    after = bus.collect("forecasts", 41)
    assert [f["as_of"] for f in after] == [json.loads(v)["date"] for _, v in messages[59:]]
    assert {f["model_version"] for f in after} == {"1"}


# --- the metrics endpoint: several workers per host ----------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process (here, the test) already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_a_taken_metrics_port_is_one_warning_and_no_endpoint(
    taken_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=metrics.__name__):
        assert metrics.serve(taken_port) is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert f"metrics port {taken_port} on 127.0.0.1 is not available (in use" in message
    assert "TICKCAST_KAFKA__METRICS_PORT" in message and "auto" in message


def test_auto_binds_a_free_port_and_says_which(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=metrics.__name__):
        port = metrics.serve("auto")
    assert port
    [record] = caplog.records
    assert record.levelno == logging.WARNING  # shown by default: nothing else tells the port
    assert f"http://127.0.0.1:{port}/metrics" in record.getMessage()
    assert "tickcast_messages_in_total" in prometheus(port)


def test_metrics_port_0_serves_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_server(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("port 0 must not start a metrics server")

    monkeypatch.setattr(metrics, "start_http_server", no_server)
    with caplog.at_level(logging.INFO, logger=metrics.__name__):
        assert metrics.serve(0) is None
    assert caplog.records == []


@pytest.mark.parametrize(
    ("value", "port"),
    [("auto", "auto"), (" AUTO ", "auto"), ("0", 0), (9200, 9200), ("9200", 9200)],
)
def test_metrics_port_takes_a_port_or_auto(value: object, port: int | str) -> None:
    assert KafkaSettings(metrics_port=value).metrics_port == port


@pytest.mark.parametrize("value", ["lots", "", -1, 70_000, "9108.5", 9108.5, True, None])
def test_metrics_port_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValidationError, match="auto to pick a free one, or 0 to turn metrics off"):
        KafkaSettings(metrics_port=value)


@pytest.mark.broker
def test_a_worker_on_a_taken_metrics_port_warns_once_and_forecasts(
    bus: Bus, taken_port: int
) -> None:
    messages, _ = synthetic_ticks(bus, ["AAA"], 62)
    worker = bus.start_worker(metrics_port=taken_port)
    bus.publish(messages)
    assert len(bus.collect("forecasts", 3)) == 3
    assert worker.poll() is None  # still running
    log = bus.log_path().read_text()
    warnings = [line for line in log.splitlines() if f"metrics port {taken_port}" in line]
    assert len(warnings) == 1, log
    assert "TICKCAST_KAFKA__METRICS_PORT" in warnings[0]
    assert "Traceback" not in log
