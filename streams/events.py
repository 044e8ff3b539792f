"""Announce registry changes on `model-events`, so running workers hot-swap the model."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer

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
