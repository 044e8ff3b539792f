"""Stream figures of issues 3 and 15, each beside its reference, measured in one run.

Run: `make bench-stream` (or `.venv/bin/python benchmarks/stream.py [--data DIR]
[--baseline COMMIT]`).
- Replay: five tickers 2018-2024 from ../shared/data through the embedded broker and one
  worker, until every forecast is on `forecasts`; beside it, the bare batched Predictor.
- The same replay by commit d5c4046 (issue 15's reference), in the same run: a `git worktree`
  of it in a temporary folder runs that commit's own benchmarks/stream.py with this venv, and
  its replay row is read back. The worktree is removed afterwards; the checkout is untouched.
  `--baseline ''` skips it.
- Latency: closes published at 20/s; publish-to-forecast-on-topic p50 and p99.
- Worker CPU per forecast during the replay, and its RSS after it.
- The Faust floor (`benchmarks/faust_floor.py`): the same replay through this worker with its
  pipeline taken out, each close sent on as it came. No worker that keeps Faust's machinery
  can replay faster, so it bounds what any pipeline can gain over the reference commit.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
from aiokafka.structs import ConsumerRecord
from common import (  # benchmarks/ is on sys.path when run as a script
    END,
    FIVE,
    START,
    Report,
    arguments,
    cpu_s,
    python,
    rss_mb,
    temporary_settings,
    throughput,
    tickcast,
    train_on,
    wait_for_forecasts,
)
from worktree import BASELINE_COMMIT, last_line, run_old_benchmark

from core import kafka as bus
from core.config import KafkaSettings, Settings
from model.evaluation import windows_in_range
from model.predictor import Predictor
from producers.publish import publish, ticks_in_order
from producers.sources import load_prices
from schemas.messages import PriceTick
from streams.broker import EmbeddedBroker

RATE, LATENCY_CLOSES = 20.0, 400
GOAL_RATE = 10_000  # forecasts/s (issue 15)
GOAL_RATIO = 4.0  # issue 15: at least 4x the replay of BASELINE_COMMIT, in the same run
BASELINE_TIMEOUT_S = 1200  # it trains a model, replays, and measures its latency too


async def latency_run(kafka: KafkaSettings, ticks: list[PriceTick]) -> list[float]:
    """Publish `ticks` at RATE/s; each forecast's arrival minus its close's publish time."""
    sent: dict[tuple[str, str], float] = {}
    latencies: list[float] = []

    def on_record(record: ConsumerRecord, now: float) -> None:
        message = json.loads(record.value)
        key = (message["ticker"], message["as_of"])
        if key in sent:
            latencies.append((now - sent[key]) * 1000)

    expected = len(ticks)
    reader = asyncio.create_task(wait_for_forecasts(kafka, 10**9, expected / RATE + 30, on_record))
    producer = bus.producer(kafka, linger_ms=0)
    await producer.start()
    await asyncio.sleep(2.0)
    started = time.perf_counter()
    for i, tick in enumerate(ticks):
        delay = started + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[(tick.ticker, tick.date.isoformat())] = time.perf_counter()
        await producer.send_and_wait(
            kafka.topics["prices"], key=tick.ticker.encode(), value=tick.model_dump_json().encode()
        )
    await producer.stop()
    deadline = time.monotonic() + 30
    while len(latencies) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    reader.cancel()
    return latencies


def replay(
    settings: Settings, data: Path, worker: int, every_close: bool = False
) -> tuple[float, int, int, float]:
    """Five tickers 2018-2024 through the running worker (process `worker`): forecasts per
    second (warm-up excluded), forecasts, closes, and the worker's CPU microseconds per
    forecast. A warm-up ticker first, so the group has formed. `every_close`: the worker
    sends a message for every close (the Faust floor), not only once a window is full."""
    kafka = settings.kafka
    before = 0 if every_close else 59  # closes of a ticker before its first forecast
    warm = load_prices("synthetic", ["WARMUP"], settings.data, date(2017, 1, 2), date(2017, 6, 30))
    asyncio.run(publish(ticks_in_order(warm.frames, "synthetic"), kafka))
    warmed = len(warm.frames["WARMUP"]) - before
    asyncio.run(wait_for_forecasts(kafka, warmed, 120))
    five = load_prices(f"csv:{data}", FIVE, settings.data, START, END)
    ticks = ticks_in_order(five.frames, five.source)
    expected = warmed + sum(len(f) - before for f in five.frames.values())
    started, cpu_before = time.perf_counter(), cpu_s(worker)
    asyncio.run(publish(ticks, kafka))
    seen, last = asyncio.run(wait_for_forecasts(kafka, expected, 300))
    cpu_us = (cpu_s(worker) - cpu_before) / (seen - warmed) * 1e6
    return (seen - warmed) / (last - started), seen - warmed, len(ticks), cpu_us


def baseline_replay(commit: str, data: Path) -> tuple[float | None, str]:
    """The replay figure of `commit`'s own benchmark, run from a temporary `git worktree` with
    this venv; (None, why) when it cannot be measured. The worktree goes, also on failure."""
    run, why = run_old_benchmark(
        commit, ["benchmarks/stream.py", "--data", str(data.resolve())], BASELINE_TIMEOUT_S
    )
    if run is None:
        return None, why
    found = re.search(r"replay: 5 tickers.*?([\d,]+) forecasts/s", run.stdout)
    if run.returncode != 0 or not found:
        return None, f"its benchmark failed (exit {run.returncode}): {last_line(run)}"
    return float(found.group(1).replace(",", "")), f"commit {commit}, its own benchmark"


def floor_replay(stored: Settings, data: Path) -> tuple[float, float]:
    """The same replay through `faust_floor.py` (the worker without its pipeline), on a
    broker of its own: messages per second and the floor worker's CPU µs per message."""
    with EmbeddedBroker() as broker:
        settings = stored.with_kafka(bootstrap_servers=broker.bootstrap, metrics_port=0)
        asyncio.run(bus.ensure_topics(settings.kafka))
        floor = [str(Path(__file__).with_name("faust_floor.py"))]
        with python(
            settings, floor, "the Faust floor", KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap
        ) as worker:
            rate, _seen, _closes, cpu_us = replay(settings, data, worker.pid, every_close=True)
    return rate, cpu_us


def main() -> None:
    args = arguments(__doc__, baseline=BASELINE_COMMIT)
    report = Report("tickcast stream (issues 3 and 15)")
    # First, alone on the machine: the reference commit's replay.
    old_rate, old_how = baseline_replay(args.baseline, args.data)
    with temporary_settings() as stored, EmbeddedBroker() as broker:
        settings = stored.with_kafka(bootstrap_servers=broker.bootstrap, metrics_port=0)
        kafka = settings.kafka
        train_on(settings, args.data, ["CMIG4.SA"])
        asyncio.run(bus.ensure_topics(kafka))
        with tickcast(settings, "worker", KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap) as worker:
            replay_rate, seen, closes, cpu_us = replay(settings, args.data, worker.pid)
            rss = rss_mb(worker.pid)

            predictor = Predictor.load(settings)
            five = load_prices(f"csv:{args.data}", FIVE, settings.data, START, END)
            windows = windows_in_range(five, predictor.window, None, None).closes
            bare = throughput(predictor, windows, kafka.batch_size)
            report.add(
                "replay: 5 tickers 2018-2024, one worker",
                f"{replay_rate:,.0f} forecasts/s ({seen:,} forecasts from {closes:,} closes)",
                f">= {GOAL_RATE:,}/s",
                replay_rate >= GOAL_RATE,
            )
            if old_rate is None:
                report.add(f"replay of {args.baseline or BASELINE_COMMIT}", "not assessed", old_how)
            else:
                report.add(
                    f"replay of {args.baseline}, same run ({old_how})",
                    f"{old_rate:,.0f} forecasts/s; now {replay_rate / old_rate:.1f}x",
                    f">= {GOAL_RATIO:g}x",
                    replay_rate >= GOAL_RATIO * old_rate,
                )
            report.add(
                "bare Predictor.predict, same batches",
                f"{bare:,.0f} forecasts/s",
                f"end-to-end / bare = {replay_rate / bare:.1%}",
            )
            report.add("worker CPU per forecast during the replay", f"{cpu_us:,.0f} µs", "-")
            report.add("worker RSS after the replay", f"{rss:,.0f} MB", "-")
            share = seen / closes  # forecasts per close: a full window is needed first
            floor_rate, floor_cpu_us = floor_replay(stored, args.data)
            bound = f"{floor_rate * share:,.0f} forecasts/s at this share of forecasts"
            if old_rate is not None:
                bound += f": at most {floor_rate * share / old_rate:.1f}x {args.baseline}"
            report.add(
                "the Faust floor: this worker without its pipeline, each close sent on",
                f"{floor_rate:,.0f} closes/s, {floor_cpu_us:,.0f} µs of CPU per close",
                bound,
            )

            fresh = load_prices(
                "synthetic", ["LAT1", "LAT2"], settings.data, date(2015, 1, 2), date(2017, 12, 29)
            )
            lat_ticks = ticks_in_order(fresh.frames, "synthetic")
            warm_part, timed = lat_ticks[: 2 * 60], lat_ticks[2 * 60 : 2 * 60 + LATENCY_CLOSES]
            asyncio.run(publish(warm_part, kafka))
            latencies = asyncio.run(latency_run(kafka, timed))
            p50 = statistics.median(latencies)
            p99 = float(np.percentile(latencies, 99))
            report.add(
                f"latency at {RATE:.0f} closes/s, publish -> forecast on topic",
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(latencies)} closes)",
                "p99 <= 100 ms",
                p99 <= 100,
            )
    report.print()


if __name__ == "__main__":
    main()
