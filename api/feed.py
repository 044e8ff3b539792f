"""The API's view of the bus: latest forecasts, recent closes, and model hot swaps."""

from __future__ import annotations

import asyncio
import json
import logging

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from api.state import ServiceState
from schemas.messages import Forecast, ModelEvent
from streams.topics import topic_names

logger = logging.getLogger(__name__)


async def follow_bus(state: ServiceState) -> None:
    """Read prices and forecasts from the start (no consumer group) into the caches."""
    kafka = state.settings.kafka
    names = topic_names(kafka)
    consumer = AIOKafkaConsumer(
        names["prices"],
        names["forecasts"],
        group_id=None,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
    )
    await consumer.start()
    state.feed_connected = True
    try:
        async for record in consumer:
            try:
                if record.topic == names["forecasts"]:
                    state.remember_forecast(Forecast.model_validate_json(record.value))
                else:
                    tick = json.loads(record.value)
                    state.remember_close(tick["ticker"], tick["date"], float(tick["close"]))
            except (ValidationError, ValueError, KeyError, TypeError):
                continue  # the worker's DLQ reports bad prices; the API just skips them
    finally:
        state.feed_connected = False
        await consumer.stop()


async def follow_model_events(state: ServiceState) -> None:
    """Swap to a newly announced champion, like the workers do."""
    kafka = state.settings.kafka
    consumer = AIOKafkaConsumer(
        topic_names(kafka)["model_events"],
        group_id=None,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="latest",
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                event = ModelEvent.model_validate_json(record.value)
            except ValidationError:
                continue
            if event.model_name == state.settings.mlflow.model_name:
                await asyncio.to_thread(state.load, event.model_version)
    finally:
        await consumer.stop()


async def run_feed(state: ServiceState) -> None:
    """Keep the feed running; reconnect after the broker goes away."""
    while True:
        try:
            await asyncio.gather(follow_bus(state), follow_model_events(state))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("bus feed stopped (%s); retrying in 5 s", exc)
            await asyncio.sleep(5)
