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


def test_exactly_once_on_apache_kafka_scores_every_forecast(kafka_bus: Bus) -> None:
    """Apache Kafka has transactions, so the worker may run with Faust's exactly-once."""
    messages, _ = synthetic_ticks(kafka_bus, ["AAA"], 80)
    kafka_bus.start_worker(env={"TICKCAST_KAFKA__PROCESSING_GUARANTEE": "exactly_once"})
    kafka_bus.publish(messages)
    forecasts = kafka_bus.collect("forecasts", 21)
    scores = kafka_bus.collect("forecast-scores", 20)
    assert len({f["id"] for f in forecasts}) == len(forecasts) == 21
    assert len({s["id"] for s in scores}) == len(scores) == 20
