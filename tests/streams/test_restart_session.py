"""A SIGKILLed worker's replacement joins its group once on the embedded broker: every worker
there takes the embedded session timeout, so the dead worker's session has ended by the time
its replacement joins, and the group does not rebalance a second time when it ends.
Against Apache Kafka the worker keeps `session_timeout_s` (Kafka refuses one under 6 s)."""

from __future__ import annotations

import asyncio
import re
import signal

import pytest

from core import kafka as bus_clients
from core.config import KafkaSettings
from tests.streams.conftest import Bus
from tests.streams.test_worker import synthetic_ticks

WINDOW = 60
JOINED = re.compile(r"Joined group '[^']*' \(generation")  # aiokafka, at INFO
SESSION = re.compile(r"session timeout ([\d.]+) s")  # the worker's start line, at INFO


def log_text(bus: Bus, log_name: str) -> str:
    return bus.log_path(log_name).read_text(errors="replace")


def session_of(bus: Bus, log_name: str) -> float:
    found = SESSION.findall(log_text(bus, log_name))
    assert found, f"no session timeout in {bus.log_path(log_name)}"
    return float(found[-1])


def test_the_embedded_broker_gets_the_short_session_unless_one_is_set() -> None:
    embedded = bus_clients.EMBEDDED_CLUSTER_ID
    default = KafkaSettings()
    assert bus_clients.session_timeout_s(default, embedded) == default.embedded_session_timeout_s
    assert bus_clients.session_timeout_s(default, "kafka-cluster") == default.session_timeout_s
    assert bus_clients.session_timeout_s(default, "") == default.session_timeout_s
    chosen = KafkaSettings(session_timeout_s=7.0)
    assert bus_clients.session_timeout_s(chosen, embedded) == 7.0


@pytest.mark.broker
def test_a_killed_workers_replacement_joins_once_and_forecasts(own_broker) -> None:
    """With the 10 s default, the replacement joined, then joined again once the killed
    worker's session ended (13 s later at 1,000 tickers): its partitions moved twice."""
    _broker, bus = own_broker
    assert asyncio.run(bus_clients.check_reachable(bus.settings.kafka)) == (
        bus_clients.EMBEDDED_CLUSTER_ID
    )
    messages, _ = synthetic_ticks(bus, ["AAA", "BBB"], WINDOW + 10)  # 11 forecasts each
    first = bus.start_worker("first.log", verbose=True)
    bus.publish(messages[:-2])  # all but each ticker's last close
    assert len(bus.collect("forecasts", 2 * 10)) == 2 * 10
    first.send_signal(signal.SIGKILL)
    first.wait()
    short = KafkaSettings().embedded_session_timeout_s
    # Whatever the machine's speed, the replacement joins after the dead session ends (with
    # 10 s it still joins long before): the gap a replacement's start-up gives anyway.
    asyncio.run(asyncio.sleep(short))
    second = bus.start_worker("second.log", verbose=True)
    bus.publish(messages[-2:])
    forecasts = bus.collect("forecasts", 2 * 11, timeout_s=90)
    assert len(forecasts) == 2 * 11  # the two new closes were forecast
    assert second.poll() is None
    assert session_of(bus, "first.log") == session_of(bus, "second.log") == short
    assert len(JOINED.findall(log_text(bus, "first.log"))) == 1  # no false eviction
    assert len(JOINED.findall(log_text(bus, "second.log"))) == 1  # no second rebalance


@pytest.mark.broker
def test_a_worker_on_apache_kafka_keeps_its_session_timeout(kafka_bus: Bus) -> None:
    cluster = asyncio.run(bus_clients.check_reachable(kafka_bus.settings.kafka))
    kafka = kafka_bus.settings.kafka
    assert cluster != bus_clients.EMBEDDED_CLUSTER_ID
    assert bus_clients.session_timeout_s(kafka, cluster) == kafka.session_timeout_s >= 6.0
