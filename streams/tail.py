"""Read bus topics as a downstream consumer would, and render their messages as text.

`consume` follows one topic (`tickcast tail`); `Follower` reads several through one consumer
and `InOrder` puts what it read in date order (`tickcast up`'s screen).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from core import kafka as bus
from core.config import KafkaSettings

logger = logging.getLogger(__name__)

TOPICS = {
    "forecasts": "forecasts",
    "forecast-scores": "scores",
    "drift-alerts": "drift_alerts",
    "dlq": "dlq",
}


def render(kind: str, message: dict) -> str:
    """One line per message, for people."""
    if kind == "forecasts":
        change = message["predicted_return"] * 100
        drift = " DRIFT" if message["drift"]["drift"] else ""
        quantiles = message.get("quantiles") or {}  # version 1 messages have none
        band = f" 80% {quantiles['0.1']:.4f}..{quantiles['0.9']:.4f}" if "0.1" in quantiles else ""
        synthetic = " [synthetic]" if message.get("synthetic") else ""
        return (
            f"{message['as_of']} {message['ticker']:<10} close {message['last_close']:.4f} -> "
            f"{message['target_date']} forecast {message['predicted_close']:.4f} ({change:+.2f}%)"
            f"{band} v{message['model_version']}{drift}{synthetic}"
        )
    if kind == "forecast-scores":
        last = message["rolling"].get("20") or {}
        mase = last.get("mase")
        return (
            f"{message['target_date']} {message['ticker']:<10} actual {message['actual_close']:.4f}"
            f" vs {message['predicted_close']:.4f} ({message['pct_error']:+.2f}%), "
            f"80% {'in' if message['covered_80'] else 'OUT'}; last {last.get('n', 0)}: MASE "
            f"{'-' if mase is None else format(mase, '.3f')}, "
            f"80% in {last.get('coverage_80', 0):.0%}"
        )
    if kind == "drift-alerts":
        what = "drift"
        if message.get("kind") == "performance":
            what = f"performance ({message['reason']})"
        head = f"{message['as_of']} {message['ticker']:<10} {what} {message['state'].upper()}"
        if message["state"] == "recovered":  # what came back inside its threshold
            back = ", ".join(
                f"{s['name']} {s['value']:.3g}" for s in message["statistics"] if not s["drift"]
            )
            return f"{head}: {'back inside: ' + back if back else 'calm'}"
        stats = ", ".join(
            f"{s['name']} {s['value']:.3g} ({s['threshold']})"
            for s in message["statistics"]
            if s["drift"]
        )
        return f"{head}: {stats or 'calm'}"
    return (
        f"{message['source_topic']}[{message['partition']}]@{message['offset']} "
        f"{message['error']} | {message['payload'][:120]}"
    )


async def consume(
    kafka: KafkaSettings,
    kind: str,
    from_beginning: bool,
    on_message: Callable[[dict], None],
    limit: int = 0,
    idle_seconds: float = 0.0,
) -> int:
    """Call `on_message` for each message of `kind` (no consumer group); returns the count."""
    consumer = bus.consumer(kafka, kafka.topics[TOPICS[kind]], from_beginning=from_beginning)
    await consumer.start()
    seen = 0
    try:
        while not limit or seen < limit:
            timeout = idle_seconds or None
            try:
                record = await asyncio.wait_for(consumer.getone(), timeout)
            except TimeoutError:
                break
            on_message(json.loads(record.value))
            seen += 1
    finally:
        await consumer.stop()
    return seen


class Follower:
    """One consumer (no group) over the topics of several kinds, from their ends: what a
    screen shows together arrives through one fetch loop, not one loop per topic."""

    def __init__(self, kafka: KafkaSettings, kinds: tuple[str, ...]) -> None:
        self.kinds = {kafka.topics[TOPICS[kind]]: kind for kind in kinds}
        self.consumer = bus.consumer(kafka, *self.kinds)
        self.kafka = kafka

    async def start(self) -> None:
        """Subscribe and fix every partition's starting offset at its end now, so that a
        message sent after this returns is never skipped as 'before the end'."""
        with bus.connection_errors(self.kafka):
            await self.consumer.start()
        while not self.consumer.assignment():
            await asyncio.sleep(0.05)
        for partition in self.consumer.assignment():
            await self.consumer.position(partition)

    async def read(self, timeout_s: float) -> list[tuple[str, dict]]:
        """What arrived within `timeout_s`, as (kind, message), in each partition's order."""
        batches = await self.consumer.getmany(timeout_ms=int(timeout_s * 1000))
        return [
            (self.kinds[partition.topic], json.loads(record.value))
            for partition, records in batches.items()
            for record in records
        ]

    async def caught_up(self) -> bool:
        """Whether everything on the topics now has been read."""
        partitions: list[TopicPartition] = list(self.consumer.assignment())
        ends = await self.consumer.end_offsets(partitions)
        for partition in partitions:
            if await self.consumer.position(partition) < ends[partition]:
                return False
        return True

    async def stop(self) -> None:
        await self.consumer.stop()


# A forecast and the alert of the same close travel on two topics, and the worker answers its
# partitions in its own order: a second's hold covers both, since each batch's outputs are
# sent together and a fetch waits at most `fetch_max_wait_ms` (50 ms).
HOLD_S = 1.0
KIND_RANK = {"forecasts": 0, "drift-alerts": 1, "forecast-scores": 2, "dlq": 3}


def order_key(kind: str, message: dict) -> tuple[str, str, int]:
    """Date, then ticker, then a day's forecast before its alert; the DLQ has no date."""
    day = message.get("as_of") or message.get("target_date") or ""
    return str(day), str(message.get("ticker", "")), KIND_RANK.get(kind, len(KIND_RANK))


@dataclass
class InOrder:
    """Holds each message `hold_s` and releases messages in date order.

    A message is released when it has been held long enough, together with every held one
    that sorts before it, so that what is printed stays in order as long as nothing arrives
    more than `hold_s` behind a later date.
    """

    hold_s: float = HOLD_S
    clock: Callable[[], float] = time.monotonic
    held: list[tuple[tuple[str, str, int], float, int, str, dict]] = field(default_factory=list)
    seen: int = 0

    def add(self, kind: str, message: dict) -> None:
        self.seen += 1  # ties keep their arrival order
        self.held.append((order_key(kind, message), self.clock(), self.seen, kind, message))

    def due(self) -> list[tuple[str, dict]]:
        """The messages to show now, in order."""
        now = self.clock()
        ripe = [item[0] for item in self.held if now - item[1] >= self.hold_s]
        if not ripe:
            return []
        limit = max(ripe)
        out = sorted(item for item in self.held if item[0] <= limit)
        self.held = [item for item in self.held if item[0] > limit]
        return [(kind, message) for _key, _at, _n, kind, message in out]

    def drain(self) -> list[tuple[str, dict]]:
        """Every held message, in order (the replay is over)."""
        out, self.held = sorted(self.held), []
        return [(kind, message) for _key, _at, _n, kind, message in out]
