"""Read a bus topic as a downstream consumer would, and render its messages as text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from core import kafka as bus
from core.config import KafkaSettings

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
        return (
            f"{message['as_of']} {message['ticker']:<10} close {message['last_close']:.4f} -> "
            f"{message['target_date']} forecast {message['predicted_close']:.4f} ({change:+.2f}%)"
            f"{band} v{message['model_version']}{drift}"
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
        stats = ", ".join(
            f"{s['name']} {s['value']:.3g} ({s['threshold']})"
            for s in message["statistics"]
            if s["drift"] or message["state"] == "recovered"
        )
        what = "drift"
        if message.get("kind") == "performance":
            what = f"performance ({message['reason']})"
        head = f"{message['as_of']} {message['ticker']:<10} {what} {message['state'].upper()}"
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
