"""A worker's start, timed from launch to its first forecast: with the registry read by the
`python -m model.fetch` child (which imports MLflow), and with the model cache's record of
what the alias named while the sqlite store is unchanged (`model.fetch.unchanged`).

Run: `.venv/bin/python benchmarks/worker_start.py [--runs 3]`.
One temporary store with a champion trained on CMIG4.SA (two epochs: only its shape
matters), one embedded broker holding CMIG4.SA's first 61 closes of 2018. Each start is a
new consumer group (`TICKCAST_KAFKA__APP_ID`), so it reads those closes from the start and
forecasts the last two. The two kinds of start take turns, run by run, so both meet the same
machine load; the child's kind deletes the record first, which is what every start did
before the record existed. Figures: the median seconds to the first forecast of each kind.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time

from common import (  # benchmarks/ is on sys.path when run as a script
    FIVE,
    START,
    Report,
    arguments,
    temporary_settings,
    tickcast,
    train_on,
    wait_for_forecasts,
)

from core import kafka as bus
from model.fetch import REFS, cache_root
from producers.publish import publish, ticks_in_order
from producers.sources import load_prices
from streams.broker import EmbeddedBroker

TICKER = FIVE[0]  # CMIG4.SA
CLOSES = 61  # a 60-close window, then one more: two forecasts per start
FORECASTS_PER_START = CLOSES - 59
TIMEOUT_S = 120.0


def main() -> None:
    args = arguments(__doc__ or "", runs=3)
    report = Report("worker start to first forecast")
    with temporary_settings() as base, EmbeddedBroker() as broker:
        settings = base.model_copy(
            update={"model": base.model.model_copy(update={"max_epochs": 2})}
        ).with_kafka(bootstrap_servers=broker.bootstrap)
        train_on(settings, args.data, [TICKER])
        asyncio.run(bus.ensure_topics(settings.kafka))
        prices = load_prices(f"csv:{args.data}", [TICKER], settings.data, START, None)
        asyncio.run(publish(ticks_in_order(prices.frames, prices.source)[:CLOSES], settings.kafka))
        refs = cache_root(settings) / REFS
        seconds: dict[str, list[float]] = {"registry child": [], "record": []}
        started = 0
        for _ in range(args.runs):
            for kind in seconds:
                if kind == "registry child":
                    shutil.rmtree(refs, ignore_errors=True)
                began = time.perf_counter()
                env = {
                    "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                    "TICKCAST_KAFKA__APP_ID": f"start-{started}",  # a group of its own
                }
                with tickcast(settings, "worker", **env):
                    started += 1
                    count = started * FORECASTS_PER_START  # the topic keeps earlier starts'
                    seen, last = asyncio.run(wait_for_forecasts(settings.kafka, count, TIMEOUT_S))
                if seen < count:
                    raise SystemExit(f"{kind}: {seen} of {count} forecasts in {TIMEOUT_S} s")
                seconds[kind].append(last - began)
    child, record = (statistics.median(seconds[kind]) for kind in seconds)
    runs = ", ".join(f"{kind}: " + " ".join(f"{s:.1f}" for s in seconds[kind]) for kind in seconds)
    report.add(
        "worker start to first forecast, store unchanged (median)",
        f"{record:.1f} s with the record",
        f"registry child, same run: {child:.1f} s ({runs})",
        record < child,
    )
    report.print()


if __name__ == "__main__":
    main()
