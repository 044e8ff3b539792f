"""The one Kafka client factory: the broker workarounds apply to every client it builds."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from core import kafka as bus
from core.config import KafkaSettings
from core.errors import UnavailableError
from streams.broker import free_port


def test_no_bootstrap_servers_says_how_to_get_a_broker() -> None:
    for build in (bus.producer, bus.consumer, bus.admin):
        with pytest.raises(UnavailableError, match="set KAFKA_BOOTSTRAP_SERVERS=host:port"):
            build(KafkaSettings())


@pytest.mark.broker
def test_clients_work_against_the_embedded_broker_even_when_asked_for_idempotence(broker) -> None:
    """Tansu rejects InitProducerId: the factory never lets a producer be idempotent."""
    kafka = KafkaSettings(
        bootstrap_servers=broker.bootstrap, topic_prefix=f"k{uuid.uuid4().hex[:6]}."
    )

    async def roundtrip() -> bytes:
        await bus.ensure_topics(kafka)
        producer = bus.producer(kafka, enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(kafka.topics["forecasts"], key=b"AAA", value=b"hello")
        finally:
            await producer.stop()
        consumer = bus.consumer(kafka, kafka.topics["forecasts"], from_beginning=True)
        await consumer.start()
        try:
            assert consumer.subscription() == {kafka.topics["forecasts"]}
            record = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        return record.value

    assert asyncio.run(roundtrip()) == b"hello"


def test_the_faust_broker_url_carries_the_fetch_wait() -> None:
    from faust.transport import drivers

    kafka = KafkaSettings(bootstrap_servers="a:1,b:2", fetch_max_wait_ms=70)
    url = bus.faust_options(kafka)["broker"]
    assert url == "tickcast70://a:1;tickcast70://b:2"
    transport = drivers.by_url(url.split(";")[0])
    assert transport.__name__ == "Transport70"


def test_exactly_once_reaches_the_faust_app() -> None:
    """Only for brokers with transactions (Apache Kafka); at-least-once is the default."""
    import faust
    from faust.types.enums import ProcessingGuarantee

    kafka = KafkaSettings(bootstrap_servers="a:1", processing_guarantee="exactly_once")
    app = faust.App("probe", **bus.faust_options(kafka))
    assert app.conf.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE
    default = faust.App("probe2", **bus.faust_options(KafkaSettings(bootstrap_servers="a:1")))
    assert default.conf.processing_guarantee is ProcessingGuarantee.AT_LEAST_ONCE


def test_the_workers_producer_takes_a_micro_batch_of_forecasts_without_waiting() -> None:
    """With Kafka's 16 KB record batches, every twelfth forecast-sized send waited for the
    broker to drain the last batch; the worker's producer holds a whole micro-batch."""
    import faust
    from aiokafka.errors import KafkaTimeoutError
    from aiokafka.structs import TopicPartition

    forecast = b"x" * 1500  # about one forecast message, quantiles and drift included

    async def queued(kafka: KafkaSettings, count: int) -> int:
        app = faust.App("probe", **bus.faust_options(kafka))
        producer = app.producer._new_producer()  # the client the worker sends with, unstarted
        accumulator = producer._message_accumulator
        done = 0
        try:
            for _ in range(count):
                await accumulator.add_message(TopicPartition("forecasts", 0), b"k", forecast, 0.05)
                done += 1
        except KafkaTimeoutError:
            pass  # no sender runs here: a full batch waits until the timeout
        finally:
            producer._closed = True  # never started: no connection or sender to close
        return done

    kafka = KafkaSettings(bootstrap_servers="a:1")
    assert asyncio.run(queued(kafka, 150)) == 150
    small = kafka.model_copy(update={"producer_batch_kb": 16})
    assert asyncio.run(queued(small, 150)) < 15


@pytest.mark.broker
def test_the_probe_says_whether_a_broker_accepts_connections(broker) -> None:
    assert asyncio.run(bus.answers(KafkaSettings(bootstrap_servers=broker.bootstrap)))
    closed = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    assert not asyncio.run(bus.answers(closed))
    both = KafkaSettings(bootstrap_servers=f"{closed.bootstrap_servers},{broker.bootstrap}")
    assert asyncio.run(bus.answers(both))  # any one of them will do
