"""The same worker against real Apache Kafka (testcontainers or TICKCAST_TEST_KAFKA)."""

from __future__ import annotations

import pytest

from tests.streams.conftest import Bus
from tests.streams.test_worker import synthetic_ticks

pytestmark = pytest.mark.broker


def test_forecasts_on_apache_kafka(kafka_bus: Bus) -> None:
    messages, _ = synthetic_ticks(kafka_bus, ["AAA", "BBB"], 100)
    kafka_bus.start_worker()
    kafka_bus.publish(messages)
    forecasts = kafka_bus.collect("forecasts", 2 * 41)
    assert len(forecasts) == 2 * 41
    assert {f["ticker"] for f in forecasts} == {"AAA", "BBB"}
