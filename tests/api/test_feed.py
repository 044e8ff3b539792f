"""The API's bus feed: prices held to a request's rules, and the champion resolved again after
every reconnect (a promotion made while the feed was away is served once it is back)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from api.feed import _swap, absorb
from api.state import ServiceState
from core import kafka as bus
from core.config import ApiSettings, Settings
from model.registry import connect, set_alias
from producers.calendar import trading_days
from schemas.messages import ModelEvent
from streams.broker import EmbeddedBroker, free_port
from tests.api.conftest import TOKEN, train_tiny_champion
from tests.utils.factories import make_settings
from tests.utils.waiting import eventually

DAYS = [d.date().isoformat() for d in trading_days(date(2024, 6, 3), date(2024, 12, 30))[:40]]

#: Raw ticks a client could publish, each wrong in one way a request would be refused for.
BAD_TICKS = {
    "negative open": '"close": 10.5, "open": -3.0, "high": 11.0, "low": 9.0',
    "NaN high": '"close": 10.5, "open": 10.0, "high": NaN, "low": 9.0',
    "infinite low": '"close": 10.5, "open": 10.0, "high": 11.0, "low": -Infinity',
    "zero close": '"close": 0',
    "close above max_price": '"close": 1e9',
    "close below min_price": '"close": 1e-9',
    "high above max_price": '"close": 10.5, "open": 10.0, "high": 1e300, "low": 9.0',
}
BAD_DATES = {"year 1500": "1500-03-01", "year 2300": "2300-03-01", "not a day": "2024-02-30"}


def _tick(ticker: str, day: str, prices: str) -> bytes:
    return f'{{"ticker": "{ticker}", "date": "{day}", {prices}, "source": "test"}}'.encode()


def _good(i: int) -> str:
    close = 10.0 + 0.01 * i
    return f'"close": {close}, "open": {close}, "high": {close + 0.5}, "low": {close - 0.5}'


def _prices(state: ServiceState) -> Callable[[bytes, int], SimpleNamespace]:
    topic = state.settings.kafka.topics["prices"]
    return lambda value, offset: SimpleNamespace(
        topic=topic, partition=0, offset=offset, value=value
    )


def _mixed_ticks() -> list[bytes]:
    """20 good closes of AAA, a bad one dated between each pair of the next ones, 20 more."""
    ticks = [_tick("AAA", DAYS[i], _good(i)) for i in range(20)]
    for k, prices in enumerate(BAD_TICKS.values()):
        i = 20 + 2 * k
        ticks.append(_tick("AAA", DAYS[i], prices))  # would be the newest close if accepted
        ticks.append(_tick("AAA", DAYS[i + 1], _good(i + 1)))
    ticks += [_tick("AAA", DAYS[i], _good(i)) for i in range(20 + 2 * len(BAD_TICKS), 40)]
    ticks += [_tick(f"OLD{n}", day, _good(0)) for n, day in enumerate(BAD_DATES.values())]
    return ticks


def _assert_only_good_closes_served(client: TestClient) -> None:
    sample = client.get("/sample-data", params={"ticker": "AAA"}).json()
    assert len(sample["last_prices"]) == 40 - len(BAD_TICKS)
    assert all(p >= 10.0 for p in sample["last_prices"])
    assert all(isinstance(v, float) and v > 0 for v in sample["last_lows"] + sample["last_opens"])
    assert max(sample["last_highs"]) < 11.0
    for n in range(len(BAD_DATES)):
        assert client.get("/sample-data", params={"ticker": f"OLD{n}"}).status_code == 404


def test_invalid_feed_prices_are_dropped_with_a_log_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    state = client.app.state.tickcast
    record = _prices(state)
    caplog.set_level(logging.WARNING, logger="api.feed")
    for offset, value in enumerate(_mixed_ticks()):
        absorb(state, record(value, offset))
    absorb(state, record(b"{not json", 999))

    _assert_only_good_closes_served(client)
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == len(BAD_TICKS) + len(BAD_DATES) + 1, dropped
    assert any("outside the plausible prices" in line for line in dropped)
    assert any(
        "2300-03-01 is outside the trading calendar (1970-01-01..2199-12-31)" in line
        for line in dropped
    )
    assert all("@" in line for line in dropped)  # topic, partition and offset


def _on_bus(settings: Settings, bootstrap: str, **api: object) -> Settings:
    """`settings` on the broker at `bootstrap`, in a topic namespace of its own."""
    kafka = settings.kafka.model_copy(
        update={
            "bootstrap_servers": bootstrap,
            "topic_prefix": f"t{uuid.uuid4().hex[:8]}.",
            "partitions": 1,
        }
    )
    return settings.model_copy(
        update={"kafka": kafka, "api": ApiSettings(token=TOKEN, feed_check_s=0.2, **api)}
    )


async def _publish(settings: Settings, values: list[bytes]) -> None:
    producer = bus.producer(settings.kafka)
    await producer.start()
    try:
        for value in values:
            await producer.send(settings.kafka.topics["prices"], key=b"AAA", value=value)
        await producer.flush()
    finally:
        await producer.stop()


def test_invalid_prices_on_the_bus_are_not_served(
    broker: EmbeddedBroker, settings_for: Callable[..., Settings], client_for
) -> None:
    settings = _on_bus(settings_for(), broker.bootstrap)
    asyncio.run(bus.ensure_topics(settings.kafka))
    client = client_for(settings)
    asyncio.run(_publish(settings, _mixed_ticks()))

    eventually(
        lambda: (
            client.get("/sample-data", params={"ticker": "AAA"}).json().get("dates", [""])[-1]
            == DAYS[-1]
        ),
        timeout_s=30,
        what="the feed read the last close",
    )
    _assert_only_good_closes_served(client)


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of its own: version 1 trained (the champion) and version 2 the same weights."""
    root = tmp_path_factory.mktemp("api-two-versions")
    settings = train_tiny_champion(root)
    client = connect(settings.mlflow)
    first = client.get_model_version(settings.mlflow.model_name, "1")
    client.create_model_version(settings.mlflow.model_name, first.source, run_id=first.run_id)
    return root


def test_a_champion_promoted_while_the_feed_was_away_is_served_after_it_reconnects(
    two_versions: Path, tmp_path: Path, client_for
) -> None:
    settings = make_settings(two_versions, max_epochs=2, hidden_size=8)
    registry, name = connect(settings.mlflow), settings.mlflow.model_name
    set_alias(registry, name, "champion", "1")
    own = EmbeddedBroker(port=free_port(), log_path=tmp_path / "tansu.log").start()
    try:
        settings = _on_bus(settings, own.bootstrap)
        asyncio.run(bus.ensure_topics(settings.kafka))
        client = client_for(settings)
        state = client.app.state.tickcast
        eventually(lambda: state.feed_connected, timeout_s=30, what="the feed connected")
        assert client.get("/model/info").json()["version"] == "1"

        own.stop()
        eventually(lambda: not state.feed_connected, timeout_s=30, what="the feed saw it go")
        set_alias(registry, name, "champion", "2")  # no model event: the broker is down
        assert client.get("/model/info").json()["version"] == "1"

        own.start()  # the same port, an empty broker
        asyncio.run(bus.ensure_topics(settings.kafka))
        eventually(
            lambda: client.get("/model/info").json()["version"] == "2",
            timeout_s=60,
            what="the champion promoted while away is served",
        )
        assert state.feed_connected
    finally:
        own.stop()


def test_a_model_event_that_cannot_load_is_counted_and_the_model_keeps_serving(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    state = client.app.state.tickcast
    served = client.get("/model/info").json()["version"]
    caplog.set_level(logging.WARNING, logger="api.feed")
    event = ModelEvent(model_name=state.settings.mlflow.model_name, model_version="999")
    asyncio.run(_swap(state, event))
    assert client.get("/model/info").json()["version"] == served
    assert "could not switch to v999" in caplog.text
    metrics = client.get("/metrics").text
    assert "tickcast_api_model_events_failed_total 1.0" in metrics
