"""Announce registry changes on `model-events`, so running workers hot-swap the model."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import ValidationError

from schemas.messages import ModelEvent
from streams.topics import topic_names
from tickcast.config import KafkaSettings

logger = logging.getLogger(__name__)


async def announce(kafka: KafkaSettings, bootstrap: str, event: ModelEvent) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        topic = topic_names(kafka)["model_events"]
        await producer.send_and_wait(
            topic, key=event.model_name.encode(), value=event.model_dump_json().encode()
        )
        logger.info("announced %s v%s on %s", event.model_name, event.model_version, topic)
    finally:
        await producer.stop()


async def follow(
    kafka: KafkaSettings,
    bootstrap: str,
    model_name: str,
    on_event: Callable[[ModelEvent], Awaitable[None]],
) -> None:
    """Call `on_event` for each new event about `model_name`; every reader sees every event."""
    consumer = AIOKafkaConsumer(
        topic_names(kafka)["model_events"],
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                event = ModelEvent.model_validate_json(record.value)
            except ValidationError as exc:
                logger.warning("ignoring a malformed model event: %s", exc)
                continue
            if event.model_name == model_name:
                await on_event(event)
    finally:
        await consumer.stop()
