"""Two ways to replay history, one pipeline: in-process (local) or through the real bus (stream)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from core import kafka as bus
from core.config import Settings
from core.errors import UnavailableError
from core.processes import die_with_parent, stop
from model.forecaster import Forecaster
from producers.publish import publish
from schemas.messages import DriftAlert, Forecast, ForecastScore, PriceTick
from streams.broker import EmbeddedBroker
from streams.pipeline import Incoming, capacity, process_batch
from streams.state import TickerState

Progress = Callable[[int, int], None]  # (done, total)


class BacktestError(UnavailableError):
    """A backtest that could not run (no forecasts came back, the worker died...)."""


@dataclass
class Replay:
    forecasts: list[Forecast] = field(default_factory=list)
    scores: list[ForecastScore] = field(default_factory=list)
    alerts: list[DriftAlert] = field(default_factory=list)
    seconds: float = 0.0
    repeats: int = 0  # messages dropped because their id was already seen (redelivery)


def expected_forecasts(ticks: list[PriceTick], window: int) -> int:
    counts: dict[str, int] = {}
    for tick in ticks:
        counts[tick.ticker] = counts.get(tick.ticker, 0) + 1
    return sum(max(0, n - window + 1) for n in counts.values())


def run_local(
    ticks: list[PriceTick],
    forecaster: Forecaster,
    settings: Settings,
    states: dict[str, TickerState] | None = None,
    progress: Progress | None = None,
    first_offset: int = 0,
) -> Replay:
    """The worker's own batch code, in-process, in batches of the worker's size.

    Messages get offsets from `first_offset` on, as one partition would: a replay that goes
    on from `states` must continue past the offsets they have seen.
    """
    started = time.perf_counter()
    states = {} if states is None else states
    replay = Replay()
    size = settings.kafka.batch_size
    kept = capacity(forecaster, settings.kafka.closes_kept)
    for first in range(0, len(ticks), size):
        chunk = ticks[first : first + size]
        batch = [
            Incoming(
                t.ticker.encode(),
                t.model_dump_json().encode(),
                "backtest",
                0,
                first_offset + first + i,
            )
            for i, t in enumerate(chunk)
        ]
        result = process_batch(
            batch, lambda t: states.get(t, TickerState()), forecaster, kept, settings.performance
        )
        states.update(result.states)
        replay.forecasts += result.forecasts
        replay.scores += result.scores
        replay.alerts += result.alerts
        if progress:
            progress(first + len(chunk), len(ticks))
    replay.seconds = time.perf_counter() - started
    return replay


def namespaced(settings: Settings, bootstrap: str) -> Settings:
    """A run of its own: topic prefix and Faust app id, so live topics and tables are untouched."""
    run = f"backtest-{uuid.uuid4().hex[:8]}"
    return settings.with_kafka(
        topic_prefix=f"{run}.", app_id=run, bootstrap_servers=bootstrap, metrics_port=0
    )


async def _collect(
    settings: Settings,
    kind: str,
    expected: int,
    idle_s: float,
    timeout_s: float,
    progress: Progress | None,
) -> list[dict]:
    consumer = bus.consumer(settings.kafka, settings.kafka.topics[kind], from_beginning=True)
    await consumer.start()
    received: list[dict] = []
    ids: set[str] = set()
    deadline, last = time.monotonic() + timeout_s, time.monotonic()
    try:
        while time.monotonic() < deadline:
            if expected and len(ids) >= expected:
                break
            if not expected and time.monotonic() - last > idle_s:
                break
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    received.append(json.loads(record.value))
                    ids.add(received[-1]["id"])
                last = time.monotonic()
            if progress and expected:
                progress(min(len(ids), expected), expected)
    finally:
        await consumer.stop()
    return received


def _worker_env(run: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": run.kafka.bootstrap_servers,
        "TICKCAST_KAFKA__TOPIC_PREFIX": run.kafka.topic_prefix,
        "TICKCAST_KAFKA__APP_ID": run.kafka.app_id,
        "TICKCAST_KAFKA__METRICS_PORT": "0",
        "TICKCAST_DATA__DIR": str(run.data.dir),
        "TICKCAST_MLFLOW__TRACKING_URI": run.mlflow.tracking_uri,
        # A lone, short-lived member: its group forms and ends quickly.
        "TICKCAST_KAFKA__SESSION_TIMEOUT_S": "6",
        "TICKCAST_KAFKA__REBALANCE_TIMEOUT_S": "2",
    }


def run_stream(
    ticks: list[PriceTick],
    forecaster: Forecaster,
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
    worker = None
    try:
        asyncio.run(bus.ensure_topics(run.kafka))
        worker = subprocess.Popen(
            [sys.executable, "-m", "tickcast", "worker", "--model", forecaster.version],
            env=_worker_env(run),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        asyncio.run(publish(ticks, run.kafka))
        expected = expected_forecasts(ticks, forecaster.window)
        raw = asyncio.run(_collect(run, "forecasts", expected, 0, timeout_s, progress))
        if len(unique_by_id(raw)) < expected:
            died = worker.poll() is not None
            raise BacktestError(
                f"only {len(raw)} of {expected} forecasts came back"
                + (" (the worker exited)" if died else "")
            )
        # Scores and alerts of a batch go out with its forecasts: a short silence ends them.
        scores = asyncio.run(_collect(run, "scores", 0, 1.0, 30, None))
        alerts = asyncio.run(_collect(run, "drift_alerts", 0, 1.0, 30, None))
    finally:
        # The run's topics and table are thrown away: nothing needs a clean shutdown.
        stop(worker, 3, "the backtest worker")
        if broker is not None:
            broker.stop()
    # At-least-once delivery: a repeat carries the id of its first delivery; keep one.
    kept = [unique_by_id(raw), unique_by_id(scores), unique_by_id(alerts)]
    replay = Replay(
        forecasts=sorted(map(Forecast.model_validate, kept[0]), key=lambda f: (f.as_of, f.ticker)),
        scores=sorted(
            map(ForecastScore.model_validate, kept[1]), key=lambda s: (s.as_of, s.ticker)
        ),
        alerts=[DriftAlert.model_validate(a) for a in kept[2]],
        seconds=time.perf_counter() - started,
        repeats=len(raw) + len(scores) + len(alerts) - sum(map(len, kept)),
    )
    return replay


def unique_by_id(messages: list[dict]) -> list[dict]:
    """The first delivery of each id, in order; what every consumer should do."""
    return list({message["id"]: message for message in reversed(messages)}.values())[::-1]
