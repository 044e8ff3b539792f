"""The worker's hot path: a batch's state is written only once the broker has confirmed its
outputs, and no log record is built below the worker's level, in aiokafka and Faust too."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from faust.serializers import codecs

from core.config import KafkaSettings, Settings
from producers import calendar
from schemas.drift import DriftReport
from schemas.messages import Forecast
from streams.app import STATE_CODEC, create_app, deliver, outgoing
from streams.broker import EmbeddedBroker
from streams.pipeline import BatchResult
from streams.state import TickerState
from tests.streams.test_scoring import DAYS, closes, forecaster, messages, replay

ROOT = Path(__file__).resolve().parents[2]


class PendingProducer:
    """A producer whose deliveries stay unconfirmed until the test confirms them."""

    def __init__(self) -> None:
        self.deliveries: list[asyncio.Future] = []

    async def send(self, topic, key, value, partition, timestamp, headers) -> asyncio.Future:
        self.deliveries.append(asyncio.get_running_loop().create_future())
        return self.deliveries[-1]


class AppWith:
    def __init__(self, producer: PendingProducer) -> None:
        self.producer = producer

    async def maybe_start_producer(self) -> PendingProducer:
        return self.producer


def forecast(ticker: str) -> Forecast:
    return Forecast(
        ticker=ticker,
        as_of=date(2024, 1, 2),
        target_date=date(2024, 1, 3),
        predicted_close=10.0,
        predicted_return=0.0,
        last_close=10.0,
        model_name="m",
        model_version="1",
        drift=DriftReport(drift=False, baseline="overall", statistics=[]),
    )


def batch() -> BatchResult:
    """A batch's result: a forecast and a new state for each of two tickers."""
    return BatchResult(
        forecasts=[forecast("AAA"), forecast("BBB")],
        states={"AAA": TickerState(position=(0, 1)), "BBB": TickerState(position=(0, 2))},
    )


async def settle() -> None:
    """Let the delivery run as far as it can without the broker."""
    for _ in range(5):
        await asyncio.sleep(0)


async def delivering() -> tuple[PendingProducer, dict, asyncio.Task]:
    """A batch being delivered, as far as it gets while the broker confirms nothing."""
    producer, table = PendingProducer(), {}
    task = asyncio.create_task(
        deliver(AppWith(producer), table, outgoing(KafkaSettings().topics, batch()))
    )
    await settle()
    return producer, table, task


def test_the_table_is_written_only_after_the_broker_confirmed_every_output() -> None:
    async def run() -> None:
        producer, table, task = await delivering()
        assert len(producer.deliveries) == 2  # both outputs handed over...
        assert table == {}  # ...and no state written while they are unconfirmed
        producer.deliveries[0].set_result(None)
        await settle()
        assert table == {} and not task.done()  # one confirmed is not enough
        producer.deliveries[1].set_result(None)
        await task
        assert set(table) == {b"AAA", b"BBB"}
        assert table[b"AAA"]["position"] == [0, 1]

    asyncio.run(run())


def test_a_delivery_the_broker_refuses_writes_no_state() -> None:
    async def run() -> None:
        producer, table, task = await delivering()
        producer.deliveries[0].set_result(None)
        producer.deliveries[1].set_exception(ConnectionError("broker gone"))
        with pytest.raises(ConnectionError):
            await task
        assert table == {}  # read again after the restart, and sent again, with the same ids

    asyncio.run(run())


def scored_state() -> TickerState:
    """A state with everything in it: bars known and unknown, scores, an outstanding forecast."""
    model = forecaster()
    bare = messages(closes(50, seed=2), DAYS[:50])
    with_bars = messages(closes(40, seed=3), DAYS[50:90], bars=True, start=50)
    _, state = replay(bare + with_bars, model)
    assert state.outstanding and len(state.history.rows) and np.isnan(state.window.bars[0][0])
    return state


def assert_same_state(restored: TickerState, state: TickerState) -> None:
    assert restored.window.to_json() == state.window.to_json()  # NaN compares unequal
    assert restored.evolve(window=state.window) == state


def test_the_table_codec_gives_back_the_state_it_was_given() -> None:
    state = scored_state()
    codec = codecs.get_codec(STATE_CODEC)
    assert_same_state(TickerState.from_json(codec.loads(codec.dumps(state.to_json()))), state)


def test_the_table_codec_reads_and_writes_what_the_json_codec_does() -> None:
    """A worker of either kind reads the other's table and changelog."""
    state = scored_state()
    ours, theirs = codecs.get_codec(STATE_CODEC), codecs.get_codec("json")
    assert_same_state(TickerState.from_json(theirs.loads(ours.dumps(state.to_json()))), state)
    assert_same_state(TickerState.from_json(ours.loads(theirs.dumps(state.to_json()))), state)
    nan = {"x": [float("nan"), float("inf"), 1e-05, 0.1 + 0.2]}
    back = theirs.loads(ours.dumps(nan))["x"]
    assert np.isnan(back[0]) and back[1:] == [float("inf"), 1e-05, 0.1 + 0.2]


# Sets up logging as the worker does (the worker class given), then sends through aiokafka's
# producer and Faust's, to the broker, counting the log records built below WARNING.
PROBE = """
import asyncio, json, logging, sys
import faust
from aiokafka import AIOKafkaProducer
from faust.worker import Worker
from streams.worker import QuietWorker

kind, bootstrap, out = sys.argv[1:]
app = faust.App("probe", broker=f"kafka://{bootstrap}")
(QuietWorker if kind == "quiet" else Worker)(app, loglevel="WARNING", quiet=True)._setup_logging()
built = []
make = logging.getLogRecordFactory()

def counting(*args, **kwargs):
    record = make(*args, **kwargs)
    if record.levelno < logging.WARNING:
        built.append(record.name)
    return record

logging.setLogRecordFactory(counting)

async def main():
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await plain.start()
    await asyncio.gather(*[await plain.send("probe", b"v", key=b"k") for _ in range(20)])
    await plain.stop()
    producer = app.producer
    await producer.start()
    sent = [await producer.send("probe", b"k", b"v", None, None, None) for _ in range(20)]
    await asyncio.gather(*sent)
    await producer.stop()

asyncio.run(main())
loggers = logging.root.manager.loggerDict.values()
chatty = [l.name for l in loggers if isinstance(l, logging.Logger) and l.isEnabledFor(logging.INFO)]
with open(out, "w") as f:
    json.dump({"built": sorted(set(built)), "enabled": sorted(chatty)}, f)
"""


def probe(kind: str, broker: EmbeddedBroker, tmp_path: Path) -> dict:
    out = tmp_path / f"{kind}.json"
    subprocess.run(
        [sys.executable, "-c", PROBE, kind, broker.bootstrap, str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return json.loads(out.read_text())


@pytest.mark.broker
def test_no_library_builds_a_record_below_the_workers_level(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    quiet = probe("quiet", broker, tmp_path)
    assert quiet == {"built": [], "enabled": []}
    # Faust's own worker leaves the root logger at DEBUG and filters in its handler: every
    # send built records in aiokafka and Faust, only to drop them.
    plain = probe("plain", broker, tmp_path)
    assert {"aiokafka.producer.producer", "faust.transport.producer"} <= set(plain["built"])


def test_the_worker_has_the_b3_calendar_before_its_first_close(tmp_path: Path) -> None:
    """Built (or read back from the data dir's cache) as the app is made, not by the first
    batch, whose closes would wait for it."""
    calendar._sessions.cache_clear()
    calendar.next_trading_day.cache_clear()  # an earlier test may have asked about today
    settings = Settings(
        data={"dir": tmp_path}, kafka={"bootstrap_servers": "127.0.0.1:9", "table_store": "memory"}
    )
    create_app(settings, forecaster())
    assert calendar._sessions.cache_info().currsize == 1
    assert calendar.cache_file(settings.data.cache_dir).is_file()
