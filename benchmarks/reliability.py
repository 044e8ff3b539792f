"""Faults of issue 13, each run against a real worker process and the embedded broker, in one
run, printed as one table.

Run: `make bench-reliability`. A champion is trained on CMIG4.SA 2018-2022 (../shared/data);
every fault replays real closes of CMIG4 and PETR4 from 2023-2024 in its own namespace (its
own topics, consumer group and table), or on a broker of its own where the fault is the
broker. Per fault: the valid closes sent, the forecasts due and received (distinct ids), the
valid closes lost, repeats downstream (and whether each repeat kept its id), DLQ entries
against those expected, and the longest gap in forecasts where the fault stops them.

Goals: 0 valid closes lost; 0 repeats from redelivery or republishing (after a kill -9 a
repeat only with the id of its first delivery); 0 crashes from a message; recovery within
30 s where the broker comes back.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from common import Report, arguments, temporary_settings, tickcast, train_on

from core import kafka as bus
from core.config import KafkaSettings, Settings
from producers.publish import ticks_in_order
from producers.sources import load_prices
from schemas.messages import ModelEvent
from streams.broker import EmbeddedBroker

TICKERS = ["CMIG4.SA", "PETR4.SA"]
FIRST, LAST = date(2023, 1, 2), date(2024, 12, 30)
WINDOW = 60
OUTAGE_S = 35.0
RECOVERY_GOAL_S = 30.0
EXIT_GOAL_S = 60.0  # where recovery is impossible: a non-zero exit within this
SETTLE_S = 8.0  # silence after which nothing more is coming


@dataclass
class Fault:
    name: str
    valid: int  # valid closes sent
    due: int  # forecasts those closes should give
    received: int = 0  # distinct forecast ids on the topic
    repeats: int = 0  # forecasts on the topic beyond the distinct ones
    repeats_same_id: bool = True
    dlq: int = 0
    dlq_expected: int = 0
    gap_s: float | None = None  # how long the fault stopped the forecasts
    gap_goal_s: float | None = None
    crashed: bool = False  # the worker died of a message
    note: str = ""

    @property
    def lost(self) -> int:
        return self.due - self.received

    def met(self, repeats_allowed: bool = False) -> bool:
        return (
            self.lost == 0
            and (self.repeats == 0 or (repeats_allowed and self.repeats_same_id))
            and self.dlq == self.dlq_expected
            and not self.crashed
            and (self.gap_goal_s is None or (self.gap_s or 0.0) <= self.gap_goal_s)
        )


@contextmanager
def namespace(settings: Settings, broker: EmbeddedBroker) -> Iterator[Settings]:
    """Settings on `broker` with topics, group and table of their own."""
    prefix = f"r{uuid.uuid4().hex[:8]}."
    run = settings.with_kafka(
        bootstrap_servers=broker.bootstrap, topic_prefix=prefix, app_id="worker", partitions=3
    )
    asyncio.run(bus.ensure_topics(run.kafka))
    yield run


def worker_env(run: Settings, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": run.kafka.bootstrap_servers,
        "TICKCAST_KAFKA__TOPIC_PREFIX": run.kafka.topic_prefix,
        "TICKCAST_KAFKA__APP_ID": run.kafka.app_id,
        "TICKCAST_KAFKA__PARTITIONS": str(run.kafka.partitions),
        **extra,
    }


async def _publish(kafka: KafkaSettings, topic: str, messages: list[tuple[str, bytes]]) -> None:
    producer = bus.producer(kafka)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, key=key.encode(), value=value)
        await producer.flush()
    finally:
        await producer.stop()


def publish(run: Settings, messages: list[tuple[str, bytes]], topic: str = "prices") -> None:
    asyncio.run(_publish(run.kafka, run.kafka.topics[topic], messages))


async def _read(kafka: KafkaSettings, topic: str, until: int, idle_s: float) -> list[tuple]:
    consumer = bus.consumer(kafka, topic, from_beginning=True)
    await consumer.start()
    seen: list[tuple[dict, float]] = []
    quiet_since = time.monotonic()
    try:
        while len(seen) < until and time.monotonic() - quiet_since < idle_s:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    seen.append((json.loads(record.value), now))
                    quiet_since = now
    finally:
        await consumer.stop()
    return seen


def read(run: Settings, topic: str, until: int = 10**9, idle_s: float = SETTLE_S) -> list[tuple]:
    """Messages of `topic` from the start, with their arrival times, until `until` of them or
    `idle_s` without one."""
    return asyncio.run(_read(run.kafka, run.kafka.topics[topic], until, idle_s))


def tally(fault: Fault, run: Settings, idle_s: float = 60.0) -> Fault:
    """Count what reached the topics: a forecast is one (ticker, as_of); its repeats must
    carry the id of its first delivery."""
    forecasts = read(run, "forecasts", until=fault.due, idle_s=idle_s)
    forecasts += read(run, "forecasts", idle_s=2.0)[len(forecasts) :]  # anything after
    keys = [(f["ticker"], f["as_of"]) for f, _ in forecasts]
    fault.received = len(set(keys))
    fault.repeats = len(keys) - len(set(keys))
    fault.repeats_same_id = len({f["id"] for f, _ in forecasts}) == len(set(keys))
    fault.dlq = len(read(run, "dlq", idle_s=2.0))
    return fault


def longest_gap(run: Settings, after: float) -> float:
    times = sorted(t for _, t in read(run, "forecasts", idle_s=2.0))
    later = [t for t in times if t >= after]
    return (later[0] - after) if later else float("inf")


def encoded(ticks: list) -> list[tuple[str, bytes]]:
    return [(t.ticker, t.model_dump_json().encode()) for t in ticks]


def due_for(count_per_ticker: dict[str, int]) -> int:
    return sum(max(0, n - WINDOW + 1) for n in count_per_ticker.values())


def republish(settings: Settings, broker: EmbeddedBroker, messages: list) -> Fault:
    with namespace(settings, broker) as run, tickcast(run, "worker", **worker_env(run)):
        publish(run, messages)
        fault = Fault("the same history published twice", len(messages), due_for(COUNTS))
        read(run, "forecasts", until=fault.due)
        publish(run, messages)
        time.sleep(SETTLE_S)
        return tally(fault, run)


def kill_mid_stream(settings: Settings, broker: EmbeddedBroker, messages: list) -> Fault:
    fault = Fault("kill -9 of the worker mid-stream, restarted", len(messages), due_for(COUNTS))
    with namespace(settings, broker) as run:
        with tickcast(run, "worker", **worker_env(run)) as worker:
            publish(run, messages)
            read(run, "forecasts", until=fault.due // 2, idle_s=60)
            worker.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            worker.wait()
        with tickcast(run, "worker", **worker_env(run)):
            tally(fault, run, idle_s=90.0)
            fault.gap_s = longest_gap(run, killed)
        fault.note = "a dead member's partitions wait out the session timeout"
        return fault


def rewind(settings: Settings, broker: EmbeddedBroker, messages: list) -> Fault:
    fault = Fault("restart that rewinds every offset to 0", len(messages), due_for(COUNTS))
    never = {"TICKCAST_KAFKA__COMMIT_INTERVAL_S": "3600"}
    with namespace(settings, broker) as run:
        with tickcast(run, "worker", **worker_env(run, **never)) as worker:
            publish(run, messages)
            read(run, "forecasts", until=fault.due, idle_s=60)
            time.sleep(2.0)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        with tickcast(run, "worker", **worker_env(run, **never)):
            time.sleep(45.0)  # the session timeout, then the whole topic again
            return tally(fault, run)


def poison(settings: Settings, broker: EmbeddedBroker, messages: list) -> Fault:
    bad = [
        ("CMIG4.SA", b"not json at all"),
        (
            "CMIG4.SA",
            json.dumps(
                {"ticker": "CMIG4.SA", "date": "9999-12-31", "close": 9.0, "source": "x"}
            ).encode(),
        ),
        (
            "CMIG4.SA",
            json.dumps(
                {"ticker": "CMIG4.SA", "date": "2030-01-02", "close": 9.0, "source": "x"}
            ).encode(),
        ),
        (
            "CMIG4.SA",
            json.dumps(
                {"ticker": "CMIG4.SA", "date": "2024-06-03", "close": 1e300, "source": "x"}
            ).encode(),
        ),
        (
            "BAD\nTICKER",
            json.dumps(
                {"ticker": "BAD\nTICKER", "date": "2024-06-03", "close": 9.0, "source": "x"}
            ).encode(),
        ),
    ]
    step = len(messages) // (len(bad) + 1)
    stream: list[tuple[str, bytes]] = []
    for i, message in enumerate(bad):
        stream += [*messages[i * step : (i + 1) * step], message]
    stream += messages[len(bad) * step :]
    fault = Fault("bad messages among valid ones", len(messages), due_for(COUNTS))
    fault.dlq_expected = len(bad)
    with namespace(settings, broker) as run:
        with tickcast(run, "worker", **worker_env(run)) as worker:
            publish(run, stream)
            tally(fault, run)
            fault.crashed = worker.poll() is not None
        return fault


def bad_model_event(settings: Settings, broker: EmbeddedBroker, messages: list) -> Fault:
    fault = Fault("a model event for a missing version", len(messages), due_for(COUNTS))
    half = len(messages) // 2
    with namespace(settings, broker) as run:
        with tickcast(run, "worker", **worker_env(run)) as worker:
            publish(run, messages[:half])
            read(run, "forecasts", until=1, idle_s=60)
            event = ModelEvent(model_name=run.mlflow.model_name, model_version="999")
            publish(run, [(event.model_name, event.model_dump_json().encode())], "model_events")
            time.sleep(3.0)
            publish(run, messages[half:])
            tally(fault, run)
            fault.crashed = worker.poll() is not None
        return fault


def broker_pause(settings: Settings, messages: list) -> Fault:
    fault = Fault(
        f"broker frozen {OUTAGE_S:.0f} s (SIGSTOP), then back", len(messages), due_for(COUNTS)
    )
    half = len(messages) // 2
    with EmbeddedBroker() as broker, namespace(settings, broker) as run:
        with tickcast(run, "worker", **worker_env(run)):
            publish(run, messages[:half])
            read(run, "forecasts", until=1, idle_s=60)
            time.sleep(2.0)
            os.kill(broker.process.pid, signal.SIGSTOP)
            time.sleep(OUTAGE_S)
            os.kill(broker.process.pid, signal.SIGCONT)
            back = time.monotonic()
            publish(run, messages[half:])
            tally(fault, run, idle_s=90.0)
            fault.gap_s = longest_gap(run, back)
            fault.gap_goal_s = RECOVERY_GOAL_S
            fault.note = "gap: from the broker's return to the next forecast"
        return fault


def broker_restart_empty(settings: Settings, messages: list) -> Fault:
    """A broker without storage restarts empty: the worker exits for its supervisor; closes
    sent after the return reach the next worker, which warms up on them."""
    after = messages[len(messages) // 2 :]
    counts: dict[str, int] = {}
    for key, _ in after:
        counts[key] = counts.get(key, 0) + 1
    fault = Fault(
        f"broker restarted empty after {OUTAGE_S:.0f} s (no storage)", len(after), due_for(counts)
    )
    with EmbeddedBroker() as broker, namespace(settings, broker) as run:
        with tickcast(run, "worker", **worker_env(run)) as worker:
            publish(run, messages[: len(messages) // 2])
            read(run, "forecasts", until=1, idle_s=60)
            broker.stop()
            time.sleep(OUTAGE_S)
            broker.start()
            back = time.monotonic()
            code = worker.wait(timeout=120)
            exited = time.monotonic() - back
        publish(run, after)
        with tickcast(run, "worker", **worker_env(run)):
            tally(fault, run, idle_s=90.0)
        fault.gap_s = exited
        fault.gap_goal_s = EXIT_GOAL_S
        fault.note = (
            f"the worker exited with code {code} {exited:.0f} s after the return (gap: that "
            "time); its successor forecast the closes sent after it"
        )
        return fault


COUNTS: dict[str, int] = {}


def main() -> None:
    args = arguments(__doc__)
    report = Report("tickcast reliability (issue 13)")
    with temporary_settings() as settings, EmbeddedBroker() as broker:
        train_on(settings, args.data, ["CMIG4.SA"])
        prices = load_prices(f"csv:{args.data}", TICKERS, settings.data, FIRST, LAST)
        messages = encoded(ticks_in_order(prices.frames, "csv"))
        COUNTS.update({t: len(f) for t, f in prices.frames.items()})
        faults = [
            (republish(settings, broker, messages), False),
            (kill_mid_stream(settings, broker, messages), True),
            (rewind(settings, broker, messages), False),
            (poison(settings, broker, messages), False),
            (bad_model_event(settings, broker, messages), False),
            (broker_pause(settings, messages), False),
            (broker_restart_empty(settings, messages), False),
        ]
    for fault, repeats_allowed in faults:
        gap = "" if fault.gap_s is None else f", gap {fault.gap_s:.1f} s"
        report.add(
            fault.name,
            f"{fault.valid} closes: {fault.received}/{fault.due} forecasts, lost {fault.lost}, "
            f"repeats {fault.repeats}{' (same ids)' if fault.repeats else ''}, "
            f"DLQ {fault.dlq}/{fault.dlq_expected}{gap}{', CRASHED' if fault.crashed else ''}",
            ("repeats allowed only with their first id; " if repeats_allowed else "")
            + "lost 0, repeats 0, DLQ as expected"
            + (f", within {fault.gap_goal_s:.0f} s" if fault.gap_goal_s else "")
            + (f"; {fault.note}" if fault.note else ""),
            fault.met(repeats_allowed),
        )
    report.print()


if __name__ == "__main__":
    main()
