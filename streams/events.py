"""Announce registry changes on `model-events`, so running workers hot-swap the model."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from core import kafka as bus
from core.config import KafkaSettings
from schemas.messages import ModelEvent

logger = logging.getLogger(__name__)


async def announce(kafka: KafkaSettings, event: ModelEvent) -> None:
    producer = bus.producer(kafka)
    await producer.start()
    try:
        topic = kafka.topics["model_events"]
        await producer.send_and_wait(
            topic, key=event.model_name.encode(), value=event.model_dump_json().encode()
        )
        logger.info("announced %s v%s on %s", event.model_name, event.model_version, topic)
    finally:
        await producer.stop()


def concerns(event: ModelEvent, model_name: str, served: str) -> bool:
    """Whether a process serving `served` (an alias, or a pinned version number) of
    `model_name` switches on this event: only when it moves the alias it serves, so a
    synthetic model never replaces the champion, and a pinned version stays."""
    return event.model_name == model_name and event.alias == served


async def follow(
    kafka: KafkaSettings,
    model_name: str,
    served: str,
    on_event: Callable[[ModelEvent], Awaitable[None]],
) -> None:
    """Call `on_event` for each new event that `concerns` this reader; every reader sees every
    event."""
    consumer = bus.consumer(kafka, kafka.topics["model_events"])
    await consumer.start()
    try:
        async for record in consumer:
            try:
                event = ModelEvent.model_validate_json(record.value)
            except ValidationError as exc:
                logger.warning("ignoring a malformed model event: %s", exc)
                continue
            if concerns(event, model_name, served):
                await on_event(event)
            else:
                logger.info(
                    "model event for %s v%s (%s) left aside: this process serves %s",
                    event.model_name,
                    event.model_version,
                    event.alias,
                    served,
                )
    finally:
        await consumer.stop()
