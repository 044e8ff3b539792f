"""`up`'s replay: publish the closes, show the worker's answers in date order, and say when
every published close has been answered; then keep showing what comes until Ctrl-C."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.progress import Progress

from core.config import Settings
from producers.publish import publish, ticks_in_order
from producers.sources import PriceData
from streams.progress import Offsets, WorkerProgress
from streams.tail import Follower, InOrder
from tickcast.screen import Screen

if TYPE_CHECKING:
    from tickcast.launcher import Children

SHOWN = ("forecasts", "drift-alerts")
WATCH_S = 0.5  # how often the children and the worker's progress are looked at


@dataclass
class View:
    """What `up` shows of the bus: the forecasts and alerts read, in date order, counted."""

    follower: Follower
    screen: Screen
    children: Children
    order: InOrder = field(default_factory=InOrder)
    forecasts: int = 0
    alerts: int = 0
    published: int = 0

    async def round(self) -> None:
        """Check the children, read what arrived (waiting up to WATCH_S), print what is due."""
        self.children.check()
        for kind, message in await self.follower.read(self.wait_s()):
            self.order.add(kind, message)
            if kind == "forecasts":
                self.forecasts += 1
            else:
                self.alerts += 1
        for kind, message in self.order.due():
            self.screen.message(kind, message)

    def wait_s(self) -> float:
        """How long a read may wait: WATCH_S, or less when a held message is due sooner, so
        it shows when its hold ends rather than up to WATCH_S later."""
        if not self.order.held:
            return WATCH_S
        due = min(at for _key, at, *_ in self.order.held) + self.order.hold_s
        return min(WATCH_S, max(0.0, due - self.order.clock()))

    def flush(self) -> None:
        for kind, message in self.order.drain():
            self.screen.message(kind, message)

    def on_published(self, sent: int, _total: int) -> None:
        self.published = sent


async def until_answered(
    view: View, worker: WorkerProgress, publishing: asyncio.Task, before: Offsets, bar: Progress
) -> None:
    """Show what comes until the worker has committed every close published and the view
    has read every output on the bus by then."""
    after: Offsets | None = None
    polled = 0.0
    while True:
        await view.round()
        if time.monotonic() - polled < WATCH_S:
            continue
        polled = time.monotonic()
        if after is None and publishing.done():
            publishing.result()  # a publishing error ends `up` with its line
            after = await worker.ends()
        answered = await worker.answered(before, after or await worker.ends())
        note = f"published {view.published}, {view.forecasts} forecasts"
        bar.update(bar.task_ids[0], completed=answered, note=note)
        if after is None:
            continue
        due = sum(end - before.get(partition, 0) for partition, end in after.items())
        if answered >= due and await view.follower.caught_up():
            return


async def replay(
    settings: Settings, data: PriceData, rate: float | None, children: Children, screen: Screen
) -> None:
    """Publish the closes, show the answers in date order and say when all are answered;
    then keep showing what comes (another producer, a new model) until Ctrl-C."""
    kafka = settings.kafka
    view, worker = View(Follower(kafka, SHOWN), screen, children), WorkerProgress(kafka)
    await view.follower.start()
    await worker.start()
    ticks = ticks_in_order(data.frames, data.source)
    try:
        started = time.monotonic()
        with screen.progress("replay", len(ticks), "closes answered") as bar:
            before = await worker.ends()
            publishing = asyncio.create_task(publish(ticks, kafka, rate, view.on_published))
            try:
                await until_answered(view, worker, publishing, before, bar)
            finally:
                publishing.cancel()
        view.flush()
        screen.plain(
            f"replayed {len(ticks)} closes, {view.forecasts} forecasts, {view.alerts} alerts "
            f"in {time.monotonic() - started:.1f} s"
        )
        screen.plain("the API and dashboard stay up; Ctrl-C stops everything")
        while True:
            await view.round()
    finally:
        await view.follower.stop()
        await worker.stop()
