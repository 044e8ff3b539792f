"""A real Apache Kafka restarted mid-stream, its topics kept: the worker loses no close.

The embedded broker keeps everything in memory, so only a real broker can show this. The
container's client listener is bound to a fixed host port, because the broker advertises that
port and a `docker start` would otherwise map a new one. In KRaft mode the whole cluster lives
in the container's data directory, which `docker stop` and `docker start` keep.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from core import kafka as bus_clients
from core.errors import KafkaUnreachableError
from streams.broker import free_port
from tests.streams.conftest import Bus, ExternalKafka, docker_engine, open_bus
from tests.streams.test_worker import synthetic_ticks
from tests.utils.waiting import eventually

pytestmark = pytest.mark.broker

WINDOW = 60
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"  # as conftest's apache_kafka (KafkaContainer's)
CONTAINER_PORT = 9093  # KafkaContainer's client listener
START_TIMEOUT_S = 120
BACK_TIMEOUT_S = 120.0  # a restarted broker reloads its logs before it answers
DUE_TIMEOUT_S = 240.0  # the outage, the group's rejoin, then the closes sent after it


@pytest.fixture
def restartable(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Bus]]:
    """A KRaft Apache Kafka container of this test's own (the test restarts it), and a bus
    on it. The champion is trained only once Docker is known to be there."""
    if not docker_engine():
        pytest.skip(
            "no Docker engine here: this test stops and starts an Apache Kafka container "
            "(testcontainers), since the embedded broker keeps no topic across a restart; "
            "TICKCAST_TEST_KAFKA cannot stand in, as the test must restart the broker itself"
        )
    from testcontainers.community.kafka import KafkaContainer

    champion_root = request.getfixturevalue("champion_root")
    container = KafkaContainer(KAFKA_IMAGE, port=CONTAINER_PORT).with_kraft()
    container.with_bind_ports(CONTAINER_PORT, free_port())
    container.start(timeout=START_TIMEOUT_S)
    try:
        bus = open_bus(ExternalKafka(container.get_bootstrap_server()), champion_root)
        try:
            yield container, bus
        finally:
            bus.stop()
    finally:
        container.stop()  # removes the container and its data volume


def answering(bus: Bus) -> bool:
    try:
        asyncio.run(bus_clients.check_reachable(bus.settings.kafka))
    except KafkaUnreachableError:
        return False
    return True


def due_forecasts(messages: list[tuple[str, bytes]]) -> set[tuple[str, str]]:
    """(ticker, as_of) of each ticker's closes from its 60th on: each must get a forecast."""
    dates: dict[str, list[str]] = {}
    for ticker, value in messages:
        dates.setdefault(ticker, []).append(json.loads(value)["date"])
    return {(ticker, day) for ticker, days in dates.items() for day in days[WINDOW - 1 :]}


def test_a_kafka_restart_mid_stream_loses_no_close(restartable: tuple[Any, Bus]) -> None:
    container, bus = restartable
    messages, _ = synthetic_ticks(bus, ["AAA", "BBB"], 150)
    first, rest = messages[:200], messages[200:]  # each ticker's first 100 days, then 50
    small_batches = {"TICKCAST_KAFKA__BATCH_SIZE": "7"}  # many batches: the stop lands mid-way
    worker = bus.start_worker(env=small_batches, verbose=True)
    bus.publish(first)
    bus.collect_until("forecasts", lambda got: len(got) >= 20)  # still working through them
    docker = container.get_wrapped_container()
    docker.stop()  # SIGTERM: Kafka shuts down cleanly, and its data stays in the container
    docker.start()
    eventually(lambda: answering(bus), BACK_TIMEOUT_S, "the restarted Kafka answering")
    bus.publish(rest)
    due = due_forecasts(messages)
    forecasts = bus.collect_until(
        "forecasts",
        lambda got: {(f["ticker"], f["as_of"]) for f in got} >= due,
        timeout_s=DUE_TIMEOUT_S,
    )
    assert {(f["ticker"], f["as_of"]) for f in forecasts} == due  # no close lost
    assert bus.collect("dlq", 1, timeout_s=5) == []  # and none taken for bad input
    assert worker.poll() is None  # the topics survived, so the worker went on
    assert "came back without" not in bus.log_path().read_text(errors="replace")
