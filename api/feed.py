"""The API's view of the bus: latest forecasts, recent closes, and model hot swaps.

Every connection reads prices, forecasts and scores from the start, follows `model-events`
from its end, and then resolves the champion alias once more: a promotion announced while
the feed was away is not on the topic's end, but the alias has it. The Kafka client retries
a lost broker quietly forever, so a watchdog turns that loss into a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError

from api import metrics
from api.state import ServiceState
from core import kafka as bus
from core.errors import TickcastError, UnavailableError, describe
from model.forecaster import tick_problem
from schemas.messages import Forecast, ForecastScore, ModelEvent, PriceTick
from streams.events import concerns

logger = logging.getLogger(__name__)

#: Checks in a row the broker must miss to count as lost: one slow answer is not a loss.
MISSES_TO_LOSE = 2


class FeedLost(UnavailableError):
    """The broker stopped answering; the feed reconnects."""


def absorb(state: ServiceState, record: Any) -> None:
    """One record of prices, forecasts or scores into the caches; a bad one is logged and
    dropped (the worker's DLQ reports bad prices with their reasons)."""
    names = state.settings.kafka.topics
    try:
        if record.topic == names["forecasts"]:
            state.remember_forecast(Forecast.model_validate_json(record.value))
        elif record.topic == names["scores"]:
            state.remember_score(ForecastScore.model_validate_json(record.value))
        else:
            tick = PriceTick.model_validate_json(record.value)
            problem = tick_problem(tick, state.settings.forecast)
            if problem is not None:
                raise ValueError(problem)
            state.remember_close(tick)
    except ValueError as exc:  # pydantic's ValidationError included
        reason = describe(exc.errors()) if isinstance(exc, ValidationError) else str(exc)
        logger.warning(
            "feed: dropped %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )


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
            absorb(state, record)
    finally:
        state.feed_connected = False
        await consumer.stop()


async def _swap(state: ServiceState, event: ModelEvent) -> None:
    try:
        await state.reload(event.model_version)
    except TickcastError as exc:  # the model served so far keeps serving
        metrics.MODEL_EVENTS_FAILED.inc()
        logger.warning("feed: could not switch to v%s: %s", event.model_version, exc)


async def _refresh(state: ServiceState) -> None:
    try:
        await state.off_loop(state.refresh_champion)
    except TickcastError as exc:
        logger.warning("feed: could not resolve the champion again: %s", exc)


async def follow_model_events(state: ServiceState) -> None:
    """Swap to each newly announced champion, like the workers do; first, the one (if any)
    promoted while this connection did not exist."""
    kafka = state.settings.kafka
    consumer = bus.consumer(kafka, kafka.topics["model_events"])
    await consumer.start()
    try:
        # Fix where reading starts before looking at the alias: a promotion after this
        # point is read as an event, one before it is what the alias says.
        for partition in consumer.assignment():
            await consumer.position(partition)
        await _refresh(state)
        async for record in consumer:
            try:
                event = ModelEvent.model_validate_json(record.value)
            except ValidationError as exc:
                logger.warning("feed: ignoring a malformed model event: %s", describe(exc.errors()))
                continue
            mlflow = state.settings.mlflow
            if concerns(event, mlflow.model_name, mlflow.served):
                await _swap(state, event)
    finally:
        await consumer.stop()


async def watch_broker(state: ServiceState) -> None:
    """Raise FeedLost once the broker misses MISSES_TO_LOSE checks in a row."""
    kafka, every = state.settings.kafka, state.settings.api.feed_check_s
    misses = 0
    while misses < MISSES_TO_LOSE:
        await asyncio.sleep(every)
        misses = 0 if await bus.answers(kafka) else misses + 1
    raise FeedLost(f"broker {kafka.bootstrap_servers} stopped answering")


async def run_feed(state: ServiceState) -> None:
    """Keep the feed running; after any failure, or a lost broker, connect again."""
    while True:
        try:
            async with asyncio.TaskGroup() as group:  # one failing stops the others
                for follower in (follow_bus, follow_model_events, watch_broker):
                    group.create_task(follower(state))
        except* Exception as failed:
            reasons = "; ".join(str(exc) or type(exc).__name__ for exc in failed.exceptions)
            logger.warning(
                "bus feed stopped (%s); reconnecting in %g s",
                reasons,
                state.settings.api.feed_check_s,
            )
        await asyncio.sleep(state.settings.api.feed_check_s)
