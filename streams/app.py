"""The Faust worker: thin agents around streams.pipeline, state in a changelog-backed table."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, MutableMapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, NoReturn

import faust
import pydantic_core
from faust.serializers import codecs
from faust.transport.consumer import CONSUMER_FETCHING, Consumer, RecordMap
from faust.types import TP
from faust.types.transports import TransportT
from mode import ServiceT
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from core import kafka as bus
from core.collector import collector_paused
from core.config import Settings
from core.errors import KafkaUnreachableError, TickcastError
from core.logs import OutageFilter
from model.forecaster import Forecaster
from model.predictor import Predictor
from producers.calendar import b3_today, next_trading_day, use_cache
from producers.publish import timestamp_ms
from schemas.messages import Message, ModelEvent
from streams import events, metrics, table_store
from streams.pipeline import BatchResult, Incoming, ModelCallFailed, capacity, process_batch
from streams.state import TickerState

logger = logging.getLogger(__name__)

CAPACITY_SETTING = "TICKCAST_KAFKA__CLOSES_KEPT"


@dataclass
class ModelHolder:
    """The forecaster in use, and how many closes per ticker the table keeps for it."""

    current: Forecaster
    capacity: int

    @classmethod
    def start(cls, forecaster: Forecaster, closes_kept: int) -> ModelHolder:
        """The table keeps the configured closes, or the model's window if that is longer."""
        return cls(forecaster, capacity(forecaster, closes_kept))

    def swap(self, candidate: Forecaster) -> bool:
        """Serve `candidate` from now on, unless it needs more history than the table keeps."""
        if candidate.window > self.capacity:
            logger.error(
                "not switching to %s v%s: it reads %d closes but the table keeps %d per ticker; "
                "v%s keeps forecasting. Set %s=%d and restart the workers to use it.",
                candidate.name,
                candidate.version,
                candidate.window,
                self.capacity,
                self.current.version,
                CAPACITY_SETTING,
                candidate.window,
            )
            metrics.SWAPS_REFUSED.inc()
            return False
        self.current = candidate
        metrics.model_version(candidate)
        logger.info("now forecasting with %s v%s", candidate.name, candidate.version)
        return True


class KeepQueuedOnResume(FlowControlEvent):
    """Flow control whose resume clears the stream queues only after a suspension.

    Faust resumes flow twice in a recovery: to read the changelogs, then once the streams'
    partitions are resumed and sought. By the second call the fetcher has already queued
    prices, which a clear dropped for good while the fetch position moved on: a restarted
    worker skipped a run of closes (faust-streaming#596). Anything queued while flow was
    suspended (a revoke) is still stale and still cleared.
    """

    def resume(self) -> None:
        suspended = not self.is_active()
        self._suspend.clear()
        self._resume.set()
        if suspended:
            self.clear()


class SnapshotFetches:
    """Consumer mixin: each fetch reads the partitions that were active when it began.

    Faust hands its live set of active partitions to the consumer thread, where aiokafka waits
    on it for records while the worker's own loop pauses and resumes partitions. As a recovery
    ends, the changelogs are paused before the prices are resumed, so for a moment the set is
    empty, and aiokafka reads an empty set as "every partition": it handed over all the prices
    it had prefetched, Faust dropped them as not active, and the consumer's position had moved
    past them. With no offset committed yet, recovery's seek left it there, so a restarted
    worker silently skipped every close published while it started (about 1 restart in 30).
    """

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> RecordMap:
        if active_partitions is not None:  # None: a client-only app, which reads everything
            active_partitions = set(active_partitions)  # a copy the worker's loop cannot empty
            if not active_partitions:
                return {}
        return await super()._getmany(active_partitions, timeout)  # type: ignore[misc]


class DirectHandOver(Consumer):
    """Consumer mixin: a fetched price goes to the agent's queue without four tasks.

    Faust's drain loop hands every fetched message over inside `wait_first`, racing it
    against a flow suspension (a rebalance), the consumer's stop and a crash: four tasks
    created and three cancelled per message, a quarter of the worker's time in a replay.
    When nothing on the hand-over can wait (flow running, Faust's producer buffer below its
    limit, the conductor's index unlocked, room in every queue the message goes to), no
    suspension can overtake it, so it is awaited directly; otherwise it takes Faust's own
    race. Only the topics the app names (raw prices) take the direct way.
    """

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        # faust's own loop (faust-streaming 0.15.3, pinned), apart from the hand-over.
        app = self.app
        direct: frozenset[str] = getattr(app, "direct_topics", frozenset())
        read_offsets = self._read_offset
        stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set  # type: ignore[attr-defined]
        since_yield = 0
        try:
            while not (stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = self.getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany may return at once, again and again
                if self.should_stop:
                    continue
                async for tp, message in fetched:
                    since_yield += 1
                    if since_yield > DRAIN_YIELD_EVERY:
                        await asyncio.sleep(0)
                        since_yield = 0
                    last = read_offsets[tp]
                    if last is not None and message.offset < last:
                        continue  # behind what was already read
                    if last and message.offset - last > 1 and app.topics.acks_enabled_for(tp.topic):
                        await self._add_gap(tp, last + 1, message.offset)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if tp.topic in direct and self._hand_over_cannot_wait(tp):
                        await self.callback(message)
                    else:
                        await self.wait_first(self.callback(message), self.suspend_flow.wait())
                    read_offsets[tp] = message.offset
                self.diag.unset_flag(CONSUMER_FETCHING)
        except (*self.consumer_stopped_errors, asyncio.CancelledError):
            if app.should_stop:
                return  # stopping anyway
            raise
        except Exception:
            logger.exception("reading fetched messages failed")
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    def _hand_over_cannot_wait(self, tp: TP) -> bool:
        """Whether the conductor's hand-over of a message on `tp` runs without suspending."""
        app = self.app
        if self.suspend_flow.is_set() or not app.flow_control.is_active():
            return False
        buffer = app.producer.buffer
        if buffer.size > buffer.max_messages:
            return False
        conductor = app.topics
        if conductor._tp_to_callback_lock.locked():
            return False
        channels = conductor._tp_index.get(tp)
        return bool(channels) and not any(channel.queue.full() for channel in channels)


DRAIN_YIELD_EVERY = 100  # messages between two yields to the loop, as in Faust's own drain


class App(faust.App):
    """faust.App whose consumer loses no prices as a recovery ends (flow control that keeps
    what was queued, fetches that read only the partitions active when they began) and hands
    prices to the agent without a race per message (`DirectHandOver`)."""

    direct_topics: frozenset[str] = frozenset()  # topics handed over without a race (raw)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return KeepQueuedOnResume(loop=self.loop)

    def _new_transport(self) -> TransportT:
        """Faust's transport (with core's consumer thread), its consumers fetching snapshots."""
        transport = super()._new_transport()
        base = transport.Consumer
        mixins = (DirectHandOver, SnapshotFetches, base)
        transport.Consumer = type(base.__name__, mixins, {"__module__": __name__})
        return transport


EXIT_RESTART = 70  # EX_SOFTWARE: a supervisor (Docker, systemd) should start the worker again


def _reason(exc: BaseException) -> str:
    """tickcast's own errors are already written for users; anything else names its type."""
    return str(exc) if isinstance(exc, TickcastError) else f"{type(exc).__name__}: {exc}"


def exit_for_restart(what: str, exc: BaseException | None = None) -> NoReturn:
    """Log why in one line (with the traceback after it, for a failure) and exit non-zero at
    once, committing nothing: the uncommitted batch is read again after the restart, and a
    half-dead worker never runs on."""
    why = what if exc is None else f"{what} failed: {_reason(exc)}"
    logger.critical(
        "%s; exiting (code %d) so that a supervisor restarts the worker",
        why,
        EXIT_RESTART,
        exc_info=exc,
    )
    logging.shutdown()
    os._exit(EXIT_RESTART)


def day(when: date) -> float:
    """The producers' record timestamp (the trading date, midnight UTC), in Faust's seconds."""
    return timestamp_ms(when) / 1000


def table_storage(settings: Settings) -> dict[str, Any]:
    """`faust.App` options for the table store the settings ask for.

    rocksdb keeps the table in a folder of this process's own under the data dir
    (`streams/table_store.py`), claimed here and held until the process ends.
    """
    kafka = settings.kafka
    if kafka.table_store == "memory":
        return {"store": "memory://"}
    root = settings.data.dir.resolve() / "faust" / kafka.topic(kafka.app_id) / "tables"
    if root not in _CLAIMS:  # one app at a time per process: a second one reuses the folder
        _CLAIMS[root] = table_store.claim_folder(root)
    folder, _held = _CLAIMS[root]
    return {
        "store": f"{table_store.SCHEME}://",
        "tabledir": str(folder),
        "Table": table_store.TickerTable,
    }


# The table folders this process holds, for as long as it runs, and their held locks.
_CLAIMS: dict[Path, tuple[Path, IO[str]]] = {}


class StateCodec(codecs.Codec):
    """The table's values as JSON, written and read by pydantic's Rust core.

    A ticker's state holds hundreds of numbers: the standard library's encoder took about
    half a millisecond per state, twice per write (the store and the changelog). The same
    JSON, NaN included, so records written by either encoder read with the other.
    """

    def _dumps(self, obj: Any) -> bytes:
        return pydantic_core.to_json(obj, inf_nan_mode="constants")

    def _loads(self, s: bytes) -> Any:
        return pydantic_core.from_json(s)


STATE_CODEC = "tickcast-state"
codecs.register(STATE_CODEC, StateCodec())


def _outputs(names: dict[str, str], result: BatchResult) -> list[tuple[str, str, Message, float]]:
    """(topic, key, message, record timestamp) of everything a result sends."""
    return [
        *((names["forecasts"], f.ticker, f, day(f.as_of)) for f in result.forecasts),
        *((names["scores"], s.ticker, s, day(s.target_date)) for s in result.scores),
        *((names["drift_alerts"], a.ticker, a, day(a.as_of)) for a in result.alerts),
        *((names["dlq"], d.key or "", d, time.time()) for d in result.dead_letters),
    ]


@dataclass(frozen=True)
class Outgoing:
    """A batch ready to leave: its records (topic, key, value, record timestamp), encoded, and
    the states to write once the broker has them."""

    records: list[tuple[str, bytes, bytes, float]]
    states: dict[str, TickerState]


def outgoing(names: dict[str, str], result: BatchResult) -> Outgoing:
    """Encode everything `result` sends (on the event loop, with no await in between)."""
    records = [
        (topic, key.encode(), msg.model_dump_json().encode(), ts)
        for topic, key, msg, ts in _outputs(names, result)
    ]
    return Outgoing(records, result.states)


async def deliver(app: faust.App, table: MutableMapping[bytes, Any], batch: Outgoing) -> None:
    """A batch's outputs on the bus, confirmed by the broker, and only then the table state
    that depends on them: a crash in between sends them again (the same ids), never a state
    whose outputs were lost.

    Straight through the app's producer (with exactly-once, Faust's transaction manager,
    which picks the transaction itself): Faust's per-message channel layer cost a quarter
    of a replay's time, for sensors and callbacks these raw messages do not need.
    """
    producer = await app.maybe_start_producer()
    sent: list[Awaitable[Any]] = []
    for topic, key, value, ts in batch.records:
        sent.append(await producer.send(topic, key, value, None, ts, None))
    await asyncio.gather(*sent)
    for ticker, state in batch.states.items():
        table[ticker.encode()] = state.to_json()


def create_app(settings: Settings, forecaster: Forecaster) -> faust.App:
    kafka = settings.kafka
    names = kafka.topics
    faust_files = settings.data.dir / "faust"
    faust_files.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = App(
        kafka.topic(kafka.app_id),
        **table_storage(settings),
        # Faust's own files under the data dir, not `<app id>-data` in whatever the cwd is
        datadir=str(faust_files / "{conf.name}"),
        topic_partitions=kafka.partitions,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        **bus.faust_options(kafka),
    )
    raw = {"key_serializer": "raw", "value_serializer": "raw", "partitions": kafka.partitions}
    prices = app.topic(names["prices"], **raw)
    app.direct_topics = frozenset({names["prices"]})
    # The producer's partitioner places each ticker's changelog entry in the partition of its
    # prices, so table writes work inside take_events batches (faust-streaming#497).
    table = app.Table(
        "ticker-state",
        partitions=kafka.partitions,
        use_partitioner=True,
        key_type=bytes,  # raw keys: the same bytes, so the same partition, as the prices key
        options=table_store.rocksdb_options(kafka.table_memory_mb),
    )
    # Faust's Table takes no serializer argument (it derives one from value_type): set before
    # anything builds the store or sends a changelog record, both of which read it. The
    # changelog topic, made with the table, keeps Faust's json codec for reading records back
    # (memory store's recovery): the same JSON.
    table.value_serializer = STATE_CODEC
    outage = OutageFilter(bus.bootstrap(kafka), kafka.outage_log_every_s)
    outage.attach()
    holder = ModelHolder.start(forecaster, kafka.closes_kept)
    metrics.model_version(forecaster)
    # The B3 calendar is built here, once, rather than in the first batch: the first close
    # would wait for it (0.3 to 0.5 s); read back from the cache if a process built it before.
    use_cache(settings.data.cache_dir)
    next_trading_day(b3_today())

    def lookup(ticker: str) -> TickerState:
        return TickerState.from_json(table.get(ticker.encode()))

    @app.agent(prices)
    async def forecast(stream: faust.StreamT) -> None:
        async for batch_events in stream.take_events(
            kafka.batch_size, within=kafka.batch_window_ms / 1000
        ):
            batch = [
                Incoming(e.key, e.value, e.message.topic, e.message.partition, e.message.offset)
                for e in batch_events
            ]
            try:
                await deliver(app, table, computed(batch))
            except ModelCallFailed as exc:
                exit_for_restart("the forecast agent", exc)

    def computed(batch: list[Incoming]) -> Outgoing:
        """The batch processed and its outputs encoded, in one pause of the collector."""
        started = time.perf_counter()
        with collector_paused():
            result = process_batch(
                batch, lookup, holder.current, holder.capacity, settings.performance
            )
            ready = outgoing(names, result)
        metrics.record_batch(result, len(batch), time.perf_counter() - started)
        for letter in result.dead_letters:
            logger.warning(
                "DLQ %s[%d]@%d: %s",
                letter.source_topic,
                letter.partition,
                letter.offset,
                letter.error,
            )
        return ready

    async def swap(event: ModelEvent) -> None:
        """Serve the announced version; one that cannot be loaded is logged and counted, and
        the current model keeps forecasting (the control plane never stops the data plane)."""
        try:
            loaded = await asyncio.to_thread(Predictor.load, settings, event.model_version)
        except Exception as exc:
            metrics.MODEL_EVENTS_FAILED.inc()
            logger.error(
                "ignoring the model event for %s v%s: %s; v%s keeps forecasting",
                event.model_name,
                event.model_version,
                _reason(exc),
                holder.current.version,
            )
            return
        holder.swap(loaded.forecaster)

    @app.task
    async def follow_model_events() -> None:
        """Every worker reads every model event (no consumer group), to hot-swap the model."""
        try:
            await events.follow(kafka, settings.mlflow.model_name, settings.mlflow.served, swap)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            exit_for_restart("following model-events", exc)

    @app.timer(interval=1.0)
    async def watch_the_broker() -> None:
        """During an outage, look for the broker; once it answers, say so and create the
        topics again (a broker without storage comes back empty)."""
        if not outage.in_outage:
            return
        try:
            await bus.check_reachable(kafka)
        except KafkaUnreachableError:
            return
        lasted = outage.back()
        lost = await bus.ensure_topics(kafka)
        logger.warning("the Kafka broker at %s is back after %.0f s", outage.address, lasted)
        if lost:
            # A broker without storage came back empty: the committed offsets and the table's
            # changelog are gone, so this worker's positions mean nothing there. The topics
            # exist again, so what producers send now waits for the next worker.
            exit_for_restart(
                f"the broker came back without {len(lost)} of tickcast's topics (no "
                "storage?): this worker's offsets and table went with them; the topics are "
                "created again, so closes sent now wait for the next worker"
            )

    app.tickcast_holder = holder  # for tests and diagnostics
    return app
