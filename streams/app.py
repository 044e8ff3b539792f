"""The Faust worker: thin agents around streams.pipeline, state in a changelog-backed table."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import faust

from model.predictor import Predictor
from schemas.messages import Message, ModelEvent
from streams import events, metrics
from streams.pipeline import Incoming, TickerState, process_batch
from streams.topics import topic_names
from streams.transport import broker_url
from tickcast.config import Settings

logger = logging.getLogger(__name__)


@dataclass
class PredictorHolder:
    """The model in use; replaced whole when a new champion is announced."""

    current: Predictor


def record_timestamp(day) -> float:
    """Messages carry their trading date as the record timestamp (midnight UTC)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


async def send_all(topic: faust.TopicT, messages: list[tuple[str, Message, float]]) -> None:
    """Send and wait for delivery, so state is written only after its outputs are on the bus."""
    futures = [
        await topic.send(key=key.encode(), value=msg.model_dump_json().encode(), timestamp=ts)
        for key, msg, ts in messages
    ]
    await asyncio.gather(*futures)


def create_app(settings: Settings, bootstrap: str, predictor: Predictor) -> faust.App:
    kafka = settings.kafka
    names = topic_names(kafka)
    app = faust.App(
        kafka.topic(kafka.app_id),
        broker=broker_url(bootstrap),
        store="memory://",
        topic_partitions=kafka.partitions,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=kafka.session_timeout_s,
        broker_rebalance_timeout=kafka.rebalance_timeout_s,
        broker_heartbeat_interval=min(3.0, kafka.session_timeout_s / 3),
    )
    raw = {"key_serializer": "raw", "value_serializer": "raw", "partitions": kafka.partitions}
    prices = app.topic(names["prices"], **raw)
    forecasts = app.topic(names["forecasts"], **raw)
    alerts = app.topic(names["drift_alerts"], **raw)
    dlq = app.topic(names["dlq"], **raw)
    # The producer's partitioner places each ticker's changelog entry in the partition of its
    # prices, so table writes work inside take_events batches (faust-streaming#497).
    table = app.Table(
        "ticker-state",
        partitions=kafka.partitions,
        use_partitioner=True,
        key_type=bytes,  # raw keys: the same bytes, so the same partition, as the prices key
    )
    app.tickcast_fetch_max_wait_ms = kafka.fetch_max_wait_ms
    holder = PredictorHolder(predictor)
    metrics.model_version(predictor)

    def lookup(ticker: str) -> TickerState:
        return TickerState.from_json(table.get(ticker.encode()))

    @app.agent(prices)
    async def forecast(stream: faust.StreamT) -> None:
        async for batch_events in stream.take_events(
            kafka.batch_size, within=kafka.batch_window_ms / 1000
        ):
            batch = [
                Incoming(e.key, e.value, e.message.topic, e.message.partition, e.message.offset)
                for e in batch_events
            ]
            started = time.perf_counter()
            result = process_batch(batch, lookup, holder.current, settings.drift)
            metrics.record_batch(result, len(batch), time.perf_counter() - started)
            for letter in result.dead_letters:
                logger.warning(
                    "DLQ %s[%d]@%d: %s",
                    letter.source_topic,
                    letter.partition,
                    letter.offset,
                    letter.error,
                )
            await send_all(
                forecasts, [(f.ticker, f, record_timestamp(f.as_of)) for f in result.forecasts]
            )
            await send_all(
                alerts, [(a.ticker, a, record_timestamp(a.as_of)) for a in result.alerts]
            )
            await send_all(dlq, [(d.key or "", d, time.time()) for d in result.dead_letters])
            for ticker, state in result.states.items():
                table[ticker.encode()] = state.to_json()

    async def swap(event: ModelEvent) -> None:
        loaded = await asyncio.to_thread(Predictor.load, settings, event.model_version)
        holder.current = loaded
        metrics.model_version(loaded)
        logger.info("now forecasting with %s v%s", loaded.name, loaded.version)

    @app.task
    async def follow_model_events() -> None:
        """Every worker reads every model event (no consumer group), to hot-swap the model."""
        await events.follow(kafka, bootstrap, settings.mlflow.model_name, swap)

    app.tickcast_holder = holder  # for tests and diagnostics
    return app
