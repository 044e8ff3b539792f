"""Put closes on the bus: one PriceTick per bar, keyed by ticker, timestamped by trading date."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from core.collector import collector_paused
from core.config import KafkaSettings
from schemas.messages import PriceTick

Progress = Callable[[int, int], None]  # (sent, total)


def ticks_in_order(
    frames: dict[str, pd.DataFrame], source: str, after: dict[str, date] | None = None
) -> list[PriceTick]:
    """Ticks of every ticker merged in date order (ticker order within a day).

    `after` holds the last date already published per ticker; only later ones are kept.
    A backtest of 1,000 tickers makes 300,000 ticks: they are read column by column, with
    the cyclic collector paused (its passes rescanned every tick made so far).
    """
    after = after or {}
    synthetic = source.partition(":")[0].strip().lower() == "synthetic"
    ticks = []
    with collector_paused():
        for ticker, frame in frames.items():
            last = after.get(ticker)
            days = frame["date"].dt.date.tolist()
            columns = [_numbers(frame[c]) for c in ("close", "open", "high", "low", "volume")]
            for day, close, open_, high, low, volume in zip(days, *columns, strict=True):
                if last is not None and day <= last:
                    continue
                ticks.append(
                    PriceTick(
                        ticker=ticker,
                        date=day,
                        close=close,
                        source=source,
                        synthetic=synthetic,
                        open=open_,
                        high=high,
                        low=low,
                        volume=volume,
                    )
                )
        ticks.sort(key=lambda t: (t.date, t.ticker))
    return ticks


def _numbers(column: pd.Series) -> list[float | None]:
    """A column's values as floats, None where unknown."""
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return [None if v != v else v for v in values.tolist()]  # NaN != NaN


def timestamp_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@dataclass
class PublishReport:
    sent: int = 0
    per_ticker: dict[str, int] = field(default_factory=dict)
    last_date: dict[str, date] = field(default_factory=dict)
    seconds: float = 0.0


async def publish(
    ticks: list[PriceTick],
    kafka: KafkaSettings,
    rate: float | None = None,
    on_progress: Progress | None = None,
) -> PublishReport:
    """Send `ticks` to the prices topic in order, at most `rate` per second (None: flat out)."""
    from core import kafka as bus  # aiokafka: not for the callers that only order ticks

    topic = kafka.topics["prices"]
    producer = bus.producer(kafka, linger_ms=5)
    report = PublishReport()
    started = time.perf_counter()
    try:
        with bus.connection_errors(kafka):  # one line, not a traceback, if the broker went away
            await producer.start()
        pending = []
        for i, tick in enumerate(ticks):
            if rate:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append(
                await producer.send(
                    topic,
                    key=tick.ticker.encode(),
                    value=tick.model_dump_json().encode(),
                    timestamp_ms=timestamp_ms(tick.date),
                )
            )
            report.sent += 1
            report.per_ticker[tick.ticker] = report.per_ticker.get(tick.ticker, 0) + 1
            report.last_date[tick.ticker] = tick.date
            if on_progress and (rate or report.sent % 200 == 0 or report.sent == len(ticks)):
                on_progress(report.sent, len(ticks))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    report.seconds = time.perf_counter() - started
    return report


class PublishedLedger:
    """The last date published per (topic, ticker), so --follow never repeats a close."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, topic: str) -> dict[str, date]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text()).get(topic, {})
        return {ticker: date.fromisoformat(day) for ticker, day in data.items()}

    def update(self, topic: str, last: dict[str, date]) -> None:
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        merged = {**data.get(topic, {}), **{t: d.isoformat() for t, d in last.items()}}
        data[topic] = merged
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(data, indent=2, sort_keys=True))
