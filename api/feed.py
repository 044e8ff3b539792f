"""The API's view of the bus: latest forecasts, recent closes, and model hot swaps."""

from __future__ import annotations

import asyncio
import logging

from pydantic import ValidationError

from api.state import ServiceState
from core import kafka as bus
from schemas.messages import Forecast, ForecastScore, ModelEvent, PriceTick
from streams import events

logger = logging.getLogger(__name__)


async def follow_bus(state: ServiceState) -> None:
    """Read prices, forecasts and scores from the start (no consumer group) into the caches."""
    kafka = state.settings.kafka
    names = kafka.topics
    consumer = bus.consumer(
        kafka, names["prices"], names["forecasts"], names["scores"], from_beginning=True
    )
    await consumer.start()
    state.feed_connected = True
    try:
        async for record in consumer:
            try:
                if record.topic == names["forecasts"]:
                    state.remember_forecast(Forecast.model_validate_json(record.value))
                elif record.topic == names["scores"]:
                    state.remember_score(ForecastScore.model_validate_json(record.value))
                else:
                    state.remember_close(PriceTick.model_validate_json(record.value))
            except (ValidationError, ValueError):
                continue  # the worker's DLQ reports bad prices; the API just skips them
    finally:
        state.feed_connected = False
        await consumer.stop()


async def follow_model_events(state: ServiceState) -> None:
    """Swap to a newly announced champion, like the workers do."""

    async def swap(event: ModelEvent) -> None:
        await asyncio.to_thread(state.load, event.model_version)

    await events.follow(state.settings.kafka, state.settings.mlflow.model_name, swap)


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
