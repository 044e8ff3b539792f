"""The worker's consumer hands a fetched price straight to its stream only when nothing on the
way can wait; otherwise it takes Faust's race against a flow suspension (a rebalance)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path

import faust
import pytest
from faust.types import TP

from core.config import Settings
from streams.app import DirectHandOver, create_app
from tests.streams.test_app import forecaster

PRICES = TP(Settings().kafka.topics["prices"], 0)


class Fetcher:
    """What the drain loop needs of Faust's Fetcher: a stop flag."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[faust.App]:
    settings = Settings(  # never connected to
        data={"dir": tmp_path}, kafka={"bootstrap_servers": "127.0.0.1:9", "table_store": "memory"}
    )
    app = create_app(settings, forecaster(60, "1"))
    assert app.direct_topics == {PRICES.topic}  # the raw prices, and nothing else
    channel = app.topic(PRICES.topic, key_serializer="raw", value_serializer="raw")
    app.topics._tp_index[PRICES] = {channel}  # as an assignment of partition 0 leaves it
    app.flow_control.resume()  # as the end of recovery does
    yield app


def drained(app: faust.App, tp: TP, offsets: list[int]) -> tuple[list[int], int]:
    """The offsets the consumer handed over, and how many hand-overs raced a suspension."""
    consumer = app.consumer
    assert isinstance(consumer, DirectHandOver)
    handed: list[int] = []
    races = 0

    async def scenario() -> None:
        nonlocal races
        fetcher = Fetcher()

        async def callback(message: faust.types.Message) -> None:
            handed.append(message.offset)

        async def getmany(timeout: float) -> AsyncIterator[tuple[TP, faust.types.Message]]:
            for offset in offsets:
                yield (
                    tp,
                    faust.types.Message(
                        tp.topic, tp.partition, offset, 0.0, 0, {}, b"k", b"v", None
                    ),
                )
            fetcher._stopped.set()

        async def race(
            *waits: Coroutine[object, object, object], timeout: float | None = None
        ) -> None:
            """Faust's race, recorded and not run: which way a message took is what counts."""
            nonlocal races
            races += 1
            for wait in waits:
                wait.close()

        consumer.callback = callback
        consumer.getmany = getmany  # type: ignore[method-assign]
        consumer.wait_first = race  # type: ignore[method-assign]
        await consumer._drain_messages(fetcher)

    asyncio.run(scenario())
    return handed, races


def test_prices_go_straight_to_the_stream_in_order_while_flow_runs(app: faust.App) -> None:
    assert drained(app, PRICES, [5, 6, 7]) == ([5, 6, 7], 0)


def test_a_price_older_than_what_was_read_is_not_handed_over_again(app: faust.App) -> None:
    app.consumer._read_offset[PRICES] = 6
    assert drained(app, PRICES, [5, 6, 7]) == ([6, 7], 0)


def test_a_suspended_flow_takes_faust_race(app: faust.App) -> None:
    app.consumer.stop_flow()  # a rebalance began: the hand-over must not wait it out
    assert drained(app, PRICES, [5, 6, 7])[1] == 3


def test_suspended_flow_control_takes_faust_race(app: faust.App) -> None:
    app.flow_control.suspend()
    assert drained(app, PRICES, [5])[1] == 1


def test_a_full_stream_queue_takes_faust_race(app: faust.App) -> None:
    (channel,) = app.topics._tp_index[PRICES]
    while not channel.queue.full():
        channel.queue.put_nowait(object())
    assert drained(app, PRICES, [5, 6]) == ([], 2)


def test_a_held_conductor_index_takes_faust_race(app: faust.App) -> None:
    async def held() -> tuple[list[int], int]:
        async with app.topics._tp_to_callback_lock:
            return await asyncio.to_thread(drained, app, PRICES, [5])

    assert asyncio.run(held())[1] == 1


def test_other_topics_and_unassigned_partitions_take_faust_race(app: faust.App) -> None:
    assert drained(app, TP("ticker-state-changelog", 0), [1])[1] == 1
    assert drained(app, TP(PRICES.topic, 1), [1])[1] == 1  # not in the conductor's index
