"""Two ways to replay history, one pipeline: in-process (local) or through the real bus (stream)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from model.predictor import Predictor
from producers.publish import publish
from schemas.messages import DriftAlert, Forecast, PriceTick
from streams.broker import EmbeddedBroker, die_with_parent
from streams.pipeline import Incoming, TickerState, process_batch
from streams.topics import ensure_topics, topic_names
from tickcast.config import Settings

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)


class BacktestError(RuntimeError):
    """A backtest that could not run (no forecasts came back, the worker died...)."""


@dataclass
class Replay:
    forecasts: list[Forecast] = field(default_factory=list)
    alerts: list[DriftAlert] = field(default_factory=list)
    seconds: float = 0.0


def expected_forecasts(ticks: list[PriceTick], window: int) -> int:
    counts: dict[str, int] = {}
    for tick in ticks:
        counts[tick.ticker] = counts.get(tick.ticker, 0) + 1
    return sum(max(0, n - window + 1) for n in counts.values())


def run_local(
    ticks: list[PriceTick],
    predictor: Predictor,
    settings: Settings,
    states: dict[str, TickerState] | None = None,
    progress: Progress | None = None,
) -> Replay:
    """The worker's own batch code, in-process, in batches of the worker's size."""
    started = time.perf_counter()
    states = {} if states is None else states
    replay = Replay()
    size = settings.kafka.batch_size
    for first in range(0, len(ticks), size):
        chunk = ticks[first : first + size]
        batch = [
            Incoming(t.ticker.encode(), t.model_dump_json().encode(), "backtest", 0, first + i)
            for i, t in enumerate(chunk)
        ]
        result = process_batch(
            batch, lambda t: states.get(t, TickerState()), predictor, settings.drift
        )
        states.update(result.states)
        replay.forecasts += result.forecasts
        replay.alerts += result.alerts
        if progress:
            progress(first + len(chunk), len(ticks))
    replay.seconds = time.perf_counter() - started
    return replay


def namespaced(settings: Settings, bootstrap: str) -> Settings:
    """A run of its own: topic prefix and Faust app id, so live topics and tables are untouched."""
    run = f"backtest-{uuid.uuid4().hex[:8]}"
    kafka = settings.kafka.model_copy(
        update={
            "topic_prefix": f"{run}.",
            "app_id": run,
            "bootstrap_servers": bootstrap,
            "metrics_port": 0,
        }
    )
    return settings.model_copy(update={"kafka": kafka})


async def _collect(
    settings: Settings,
    kind: str,
    expected: int,
    idle_s: float,
    timeout_s: float,
    progress: Progress | None,
) -> list[dict]:
    kafka = settings.kafka
    consumer = AIOKafkaConsumer(
        topic_names(kafka)[kind],
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
    )
    await consumer.start()
    received: list[dict] = []
    deadline, last = time.monotonic() + timeout_s, time.monotonic()
    try:
        while time.monotonic() < deadline:
            if expected and len(received) >= expected:
                break
            if not expected and time.monotonic() - last > idle_s:
                break
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                received += [json.loads(r.value) for r in records]
                last = time.monotonic()
            if progress and expected:
                progress(min(len(received), expected), expected)
    finally:
        await consumer.stop()
    return received


def run_stream(
    ticks: list[PriceTick],
    predictor: Predictor,
    settings: Settings,
    progress: Progress | None = None,
    timeout_s: float = 300.0,
) -> Replay:
    """Producer -> broker -> a real worker process -> forecasts, in a namespace of its own.

    Starts the embedded broker unless Kafka is configured; both stop when the run ends.
    """
    started = time.perf_counter()
    broker = None
    bootstrap = settings.kafka.bootstrap_servers
    if not bootstrap:
        broker = EmbeddedBroker().start()
        bootstrap = broker.bootstrap
    run = namespaced(settings, bootstrap)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "TICKCAST_KAFKA__TOPIC_PREFIX": run.kafka.topic_prefix,
        "TICKCAST_KAFKA__APP_ID": run.kafka.app_id,
        "TICKCAST_KAFKA__METRICS_PORT": "0",
        "TICKCAST_DATA__DIR": str(settings.data.dir),
        "TICKCAST_MLFLOW__TRACKING_URI": settings.mlflow.tracking_uri,
        # A lone, short-lived member: its group forms and ends quickly.
        "TICKCAST_KAFKA__SESSION_TIMEOUT_S": "6",
        "TICKCAST_KAFKA__REBALANCE_TIMEOUT_S": "2",
    }
    worker = None
    try:
        asyncio.run(ensure_topics(run.kafka, bootstrap))
        worker = subprocess.Popen(
            [sys.executable, "-m", "tickcast", "worker", "--model", predictor.version],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        asyncio.run(publish(ticks, bootstrap, topic_names(run.kafka)["prices"]))
        expected = expected_forecasts(ticks, predictor.window)
        raw = asyncio.run(_collect(run, "forecasts", expected, 0, timeout_s, progress))
        if len(raw) < expected:
            died = worker.poll() is not None
            raise BacktestError(
                f"only {len(raw)} of {expected} forecasts came back"
                + (" (the worker exited)" if died else "")
            )
        alerts = asyncio.run(_collect(run, "drift_alerts", 0, 1.0, 30, None))
    finally:
        if worker is not None and worker.poll() is None:
            # The run's topics and table are thrown away: nothing needs a clean shutdown.
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(3)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if broker is not None:
            broker.stop()
    # At-least-once delivery: keep one forecast per (ticker, as_of).
    unique = {(f["ticker"], f["as_of"]): f for f in raw}
    replay = Replay(
        forecasts=[Forecast.model_validate(f) for f in unique.values()],
        alerts=[DriftAlert.model_validate(a) for a in alerts],
        seconds=time.perf_counter() - started,
    )
    replay.forecasts.sort(key=lambda f: (f.as_of, f.ticker))
    return replay
