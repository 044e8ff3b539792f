"""Stream figures of issue 3, each beside its reference, measured in one run.

Run: `make bench-stream` (or `.venv/bin/python benchmarks/stream.py [--data DIR]`).
- Replay: five tickers 2018-2024 from ../shared/data through the embedded broker and one
  worker, until every forecast is on `forecasts`; beside it, the bare batched Predictor.
- Latency: closes published at 20/s; publish-to-forecast-on-topic p50 and p99.
- Worker RSS after the replay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from model_core import (  # benchmarks/ is on sys.path when run as a script
    print_table,
    rss_mb,
    throughput,
)
from streams.topics import ensure_topics, topic_names

from core.config import Settings
from model.evaluation import windows_in_range
from model.predictor import Predictor
from model.training import train
from producers.publish import publish, ticks_in_order
from producers.sources import load_prices
from streams.broker import EmbeddedBroker

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FIVE = ["CMIG4.SA", "PETR4.SA", "VALE3.SA", "ITUB4.SA", "BBDC4.SA"]
START, END = date(2018, 1, 2), date(2024, 12, 30)
RATE, LATENCY_CLOSES = 20.0, 400


async def wait_for_forecasts(
    bootstrap: str, topic: str, count: int, timeout_s: float, on_record=None
) -> tuple[int, float]:
    """Read `topic` from the start until `count` records; returns (seen, time of the last)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    seen, last, deadline = 0, 0.0, time.monotonic() + timeout_s
    try:
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    seen += 1
                    last = now
                    if on_record:
                        on_record(record, now)
    finally:
        await consumer.stop()
    return seen, last


async def latency_run(bootstrap: str, prices: str, forecasts: str, ticks: list) -> list[float]:
    """Publish `ticks` at RATE/s; each forecast's arrival minus its close's publish time."""
    sent: dict[tuple[str, str], float] = {}
    latencies: list[float] = []

    def on_record(record, now: float) -> None:
        message = json.loads(record.value)
        key = (message["ticker"], message["as_of"])
        if key in sent:
            latencies.append((now - sent[key]) * 1000)

    expected = len(ticks)
    reader = asyncio.create_task(
        wait_for_forecasts(bootstrap, forecasts, 10**9, expected / RATE + 30, on_record)
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=0)
    await producer.start()
    await asyncio.sleep(2.0)
    started = time.perf_counter()
    for i, tick in enumerate(ticks):
        delay = started + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[(tick.ticker, tick.date.isoformat())] = time.perf_counter()
        await producer.send_and_wait(
            prices, key=tick.ticker.encode(), value=tick.model_dump_json().encode()
        )
    await producer.stop()
    deadline = time.monotonic() + 30
    while len(latencies) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    reader.cancel()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: no such folder; the benchmark needs ../shared/data")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        root = Path(tmp)
        settings = Settings(
            data={"dir": root},
            mlflow={"tracking_uri": f"sqlite:///{root}/mlflow.db"},
            kafka={"bootstrap_servers": broker.bootstrap, "metrics_port": 0},
        )
        source = f"csv:{args.data}"
        cmig = load_prices(source, ["CMIG4.SA"], settings.data, START, END)
        train(
            cmig,
            settings,
            valid_start=date(2023, 1, 1),
            test_start=date(2024, 1, 1),
            progress=False,
        )
        asyncio.run(ensure_topics(settings.kafka, broker.bootstrap))
        names = topic_names(settings.kafka)
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "TICKCAST_DATA__DIR": str(root),
            "TICKCAST_MLFLOW__TRACKING_URI": settings.mlflow.tracking_uri,
            "TICKCAST_KAFKA__METRICS_PORT": "0",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "tickcast", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Warm-up: the worker has joined its group once a warm-up ticker's forecast arrives.
            warm = load_prices(
                "synthetic", ["WARMUP"], settings.data, date(2017, 1, 2), date(2017, 6, 30)
            )
            asyncio.run(
                publish(ticks_in_order(warm.frames, "synthetic"), broker.bootstrap, names["prices"])
            )
            warm_forecasts = len(warm.frames["WARMUP"]) - 59
            asyncio.run(
                wait_for_forecasts(broker.bootstrap, names["forecasts"], warm_forecasts, 120)
            )

            five = load_prices(source, FIVE, settings.data, START, END)
            ticks = ticks_in_order(five.frames, five.source)
            expected = warm_forecasts + sum(len(f) - 59 for f in five.frames.values())
            started = time.perf_counter()
            asyncio.run(publish(ticks, broker.bootstrap, names["prices"]))
            seen, last = asyncio.run(
                wait_for_forecasts(broker.bootstrap, names["forecasts"], expected, 300)
            )
            replay_rate = (seen - warm_forecasts) / (last - started)
            rss = rss_mb(worker.pid)

            predictor = Predictor.load(settings)
            windows = windows_in_range(five, predictor.window, None, None).closes
            bare = throughput(predictor, windows, settings.kafka.batch_size)
            rows += [
                (
                    "replay: 5 tickers 2018-2024, one worker",
                    f"{replay_rate:,.0f} forecasts/s "
                    f"({seen - warm_forecasts:,} forecasts from {len(ticks):,} closes)",
                    ">= 2,000/s",
                    "yes" if replay_rate >= 2000 else "NO",
                ),
                (
                    "bare Predictor.predict, same batches",
                    f"{bare:,.0f} forecasts/s",
                    f"end-to-end / bare = {replay_rate / bare:.1%}",
                    "",
                ),
                ("worker RSS after the replay", f"{rss:,.0f} MB", "-", ""),
            ]

            fresh = load_prices(
                "synthetic", ["LAT1", "LAT2"], settings.data, date(2015, 1, 2), date(2017, 12, 29)
            )
            lat_ticks = ticks_in_order(fresh.frames, "synthetic")
            warm_part, timed = lat_ticks[: 2 * 60], lat_ticks[2 * 60 : 2 * 60 + LATENCY_CLOSES]
            asyncio.run(publish(warm_part, broker.bootstrap, names["prices"]))
            latencies = asyncio.run(
                latency_run(broker.bootstrap, names["prices"], names["forecasts"], timed)
            )
            p50 = statistics.median(latencies)
            p99 = float(np.percentile(latencies, 99))
            rows.append(
                (
                    f"latency at {RATE:.0f} closes/s, publish -> forecast on topic",
                    f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(latencies)} closes)",
                    "p99 <= 100 ms",
                    "yes" if p99 <= 100 else "NO",
                )
            )
        finally:
            worker.terminate()
            worker.wait(30)
    print_table(
        "tickcast stream (issue 3) - all figures measured in this run",
        ("figure", "measured", "goal / reference", "met"),
        rows,
    )


if __name__ == "__main__":
    main()
