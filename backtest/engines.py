"""Two ways to replay history, one pipeline: in-process (local) or through the real bus (stream)."""

from __future__ import annotations

import asyncio
import heapq
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from core.collector import collector_paused
from core.config import Settings
from core.errors import UnavailableError
from core.processes import die_with_parent, forked_helper
from model.forecaster import Forecaster, WindowInput
from schemas.messages import DriftAlert, Forecast, ForecastScore, PriceTick
from streams.pipeline import Incoming, capacity, process_batch
from streams.state import TickerState

if TYPE_CHECKING:
    from streams.broker import EmbeddedBroker

# The stream engine's Kafka client (aiokafka) loads when it runs: the local engine never needs it.

Progress = Callable[[int, int], None]  # (done, total)
FRESH = TickerState()  # a ticker not seen yet (states are immutable, so one serves all)


class BacktestError(UnavailableError):
    """A backtest that could not run (no forecasts came back, the worker died...)."""


@dataclass
class Replay:
    forecasts: list[Forecast] = field(default_factory=list)
    scores: list[ForecastScore] = field(default_factory=list)
    alerts: list[DriftAlert] = field(default_factory=list)
    scored: int = 0  # forecasts checked against their close: `scores`, if it holds them
    seconds: float = 0.0
    repeats: int = 0  # messages dropped because their id was already seen (redelivery)


def expected_forecasts(ticks: list[PriceTick], window: int) -> int:
    counts: dict[str, int] = {}
    for tick in ticks:
        counts[tick.ticker] = counts.get(tick.ticker, 0) + 1
    return sum(max(0, n - window + 1) for n in counts.values())


class LocationRecorder:
    """The served Forecaster, keeping the network's unshrunk location of each forecast it
    makes, by (ticker, as_of): the report's unshrunk figures then need no second pass of the
    network over every window (on one thread a window's bits do not depend on its batch, so
    these are the locations such a pass would give). The pipeline calls it as the Forecaster
    itself; every attribute but `forecast` is the Forecaster's."""

    def __init__(self, forecaster: Forecaster) -> None:
        self._forecaster = forecaster
        self.locations: dict[tuple[str, date], float] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._forecaster, name)

    def forecast(self, inputs: Sequence[WindowInput], *, intervals: bool = True) -> list:
        predictions = self._forecaster.forecast(inputs, intervals=intervals)
        for prediction in predictions:
            if prediction.as_of is not None:
                self.locations[(prediction.ticker, prediction.as_of)] = prediction.location
        return predictions

    def forecaster(self) -> Forecaster:
        """This recorder, typed as what the pipeline takes."""
        return cast(Forecaster, self)


def run_local(
    ticks: list[PriceTick],
    forecaster: Forecaster,
    settings: Settings,
    states: dict[str, TickerState] | None = None,
    progress: Progress | None = None,
    first_offset: int = 0,
    processes: int = 1,
    scores: bool = True,
) -> Replay:
    """The worker's own batch code, in-process, in batches of the worker's size.

    Messages get offsets from `first_offset` on, as one partition would: a replay that goes
    on from `states` must continue past the offsets they have seen.

    With `processes` > 1 and at least `backtest.split_min_closes` closes, a fresh replay
    (no `states`) shares its tickers among that many processes: this one and forked
    children (see `_split`), where the platform can fork. Tickers never interact and a
    window's forecast does not depend on its batch, so the outputs are the same, in the
    same order.

    `scores=False` keeps no score messages, only their count (`Replay.scored`): a report
    reads nothing else of them, and building them cost about a seventh of a replay.
    """
    started = time.perf_counter()
    numbered = list(enumerate(ticks, start=first_offset))
    split = (
        states is None
        and processes > 1
        and len(ticks) >= settings.backtest.split_min_closes
        and "fork" in multiprocessing.get_all_start_methods()
    )
    shares = _shares(numbered, processes) if split else []
    # Paused over the whole replay, not per batch: the results it keeps grow with every
    # batch, and each collection on resuming rescanned all of them (a sixth of a 1,000-ticker
    # replay). Forked children inherit the pause, as they do the model.
    with collector_paused():
        if len(shares) > 1:  # one ticker makes one share
            replay = _split(shares, forecaster, settings, progress, len(ticks), scores)
        else:
            step = _steps(progress, len(ticks))
            replay = _replay(numbered, forecaster, settings, states, step, scores)
    replay.seconds = time.perf_counter() - started
    return replay


Numbered = list[tuple[int, PriceTick]]  # each tick with its offset on the replay's partition


def _steps(progress: Progress | None, total: int) -> Callable[[int], None]:
    """`progress` as a callback told how many more closes are done."""
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(done, total)

    return step


def _replay(
    numbered: Numbered,
    forecaster: Forecaster,
    settings: Settings,
    states: dict[str, TickerState] | None,
    step: Callable[[int], None],
    scores: bool = True,
) -> Replay:
    """The replay itself, in this process."""
    states = {} if states is None else states
    replay = Replay()
    size = settings.kafka.batch_size
    kept = capacity(forecaster, settings.kafka.closes_kept)
    for first in range(0, len(numbered), size):
        chunk = numbered[first : first + size]
        batch = [
            Incoming(t.ticker.encode(), t.model_dump_json().encode(), "backtest", 0, offset)
            for offset, t in chunk
        ]
        result = process_batch(
            batch,
            lambda t: states.get(t, FRESH),
            forecaster,
            kept,
            settings.performance,
            scores=scores,
        )
        states.update(result.states)
        replay.forecasts += result.forecasts
        replay.scores += result.scores
        replay.alerts += result.alerts
        replay.scored += result.scored
        step(len(chunk))
    return replay


def _shares(numbered: Numbered, processes: int) -> list[Numbered]:
    """The ticks split by ticker into up to `processes` shares of about equal closes, each
    in message order; the largest tickers are placed first, each on the lightest share."""
    counts: dict[str, int] = {}
    for _, tick in numbered:
        counts[tick.ticker] = counts.get(tick.ticker, 0) + 1
    loads = [0] * max(1, min(processes, len(counts)))
    owner: dict[str, int] = {}
    for ticker, count in sorted(counts.items(), key=lambda item: -item[1]):
        lightest = loads.index(min(loads))
        owner[ticker] = lightest
        loads[lightest] += count
    shares: list[Numbered] = [[] for _ in loads]
    for item in numbered:
        shares[owner[item[1].ticker]].append(item)
    return shares


def _split(
    shares: list[Numbered],
    forecaster: Forecaster,
    settings: Settings,
    progress: Progress | None,
    total: int,
    scores: bool = True,
) -> Replay:
    """Replay the first share here and each other one in a forked child, then merge the
    outputs in message order.

    Forked, not spawned: a child starts in milliseconds with the loaded model and the ticks,
    and it only runs the pipeline and writes to its pipe, touching no lock that another
    thread of this process (a progress bar, a process pool) may hold. It sends its outputs
    as JSON, which pydantic writes and reads in about 50 µs per close, against 250 µs to
    pickle them. A LocationRecorder's locations come back with them. Called with the
    collector paused (`run_local`), which the children inherit.
    """
    import pickle

    context = multiprocessing.get_context("fork")
    children: list[tuple[Any, Any, Any, int]] = []  # process, its pipe, its count, its closes
    own = 0

    def others() -> int:
        return sum(done.value for _, _, done, _ in children)

    def step(count: int) -> None:
        nonlocal own
        own += count
        if progress:
            progress(own + others(), total)

    try:
        for share in shares[1:]:
            receiver, sender = context.Pipe(duplex=False)
            done = context.Value("q", 0, lock=False)  # written by the child alone
            child = context.Process(
                target=_child,
                args=(sender, share, forecaster, settings, done, scores),
                daemon=True,
            )
            child.start()
            sender.close()
            children.append((child, receiver, done, len(share)))
        parts = [_replay(shares[0], forecaster, settings, None, step, scores)]
        for child, receiver, _, size in children:
            while not receiver.poll(PROGRESS_POLL_S):  # True on data, or on EOF
                if progress:
                    progress(own + others(), total)
            try:
                outcome, payload = pickle.loads(receiver.recv_bytes())
            except EOFError:
                child.join()
                raise BacktestError(
                    f"the process replaying {size:,} closes ended without its results "
                    f"(exit code {child.exitcode}); run again with "
                    "TICKCAST_BACKTEST__REPLAY_PROCESSES=1 to replay in one process"
                ) from None
            child.join()
            if outcome != "ok":
                raise BacktestError(f"the process replaying {size:,} closes failed: {payload}")
            parts.append(_received(payload, forecaster))
        if progress:
            progress(total, total)
        return _merged(parts, [item for share in shares for item in share])
    finally:
        for child, receiver, _, _ in children:
            receiver.close()
            if child.is_alive():
                child.kill()
                child.join()


PROGRESS_POLL_S = 0.2  # how often the progress shows the children's closes while they run


def _child(
    sender: Any,
    share: Numbered,
    forecaster: Forecaster,
    settings: Settings,
    done: Any,
    scores: bool,
) -> None:
    """A forked child's replay of its share, sent back as JSON (or the error's one line)."""
    import pickle

    forked_helper()

    def step(count: int) -> None:
        done.value += count

    try:
        replay = _replay(share, forecaster, settings, None, step, scores)
        locations = forecaster.locations if isinstance(forecaster, LocationRecorder) else None
        payload: object = (
            [m.model_dump_json() for m in replay.forecasts],
            [m.model_dump_json() for m in replay.scores],
            [m.model_dump_json() for m in replay.alerts],
            replay.scored,
            locations,
        )
        outcome = "ok"
    except Exception as exc:
        outcome, payload = "error", f"{type(exc).__name__}: {exc}"
    sender.send_bytes(pickle.dumps((outcome, payload), protocol=pickle.HIGHEST_PROTOCOL))
    sender.close()


def _received(payload: Any, forecaster: Forecaster) -> Replay:
    forecasts, scores, alerts, scored, locations = payload
    if locations and isinstance(forecaster, LocationRecorder):
        forecaster.locations.update(locations)
    return Replay(
        forecasts=[Forecast.model_validate_json(m) for m in forecasts],
        scores=[ForecastScore.model_validate_json(m) for m in scores],
        alerts=[DriftAlert.model_validate_json(m) for m in alerts],
        scored=scored,
    )


def _merged(parts: list[Replay], numbered: Numbered) -> Replay:
    """The parts' outputs in message order, as one process would have sent them.

    Each output comes from the close of its ticker and date (a forecast's as_of, a score's
    target date, an alert's as_of), and a ticker's closes are all in one part, whose outputs
    are already in message order: merging by that close's offset restores the whole order.
    A date sent again makes nothing new (a duplicate, or a correction for the DLQ), so the
    first close of each ticker and date is the one; a backtest's prices are all real or all
    synthetic, so no later close of the other kind starts a ticker afresh on that date.
    """
    offsets: dict[tuple[str, date], int] = {}
    for offset, tick in numbered:
        offsets.setdefault((tick.ticker, tick.date), offset)
    merged = Replay()
    merged.forecasts = list(
        heapq.merge(*(p.forecasts for p in parts), key=lambda m: offsets[(m.ticker, m.as_of)])
    )
    merged.scores = list(
        heapq.merge(*(p.scores for p in parts), key=lambda m: offsets[(m.ticker, m.target_date)])
    )
    merged.alerts = list(
        heapq.merge(*(p.alerts for p in parts), key=lambda m: offsets[(m.ticker, m.as_of)])
    )
    merged.scored = sum(p.scored for p in parts)
    return merged


def namespaced(settings: Settings, bootstrap: str) -> Settings:
    """A run of its own: topic prefix and Faust app id, so live topics and tables are untouched."""
    run = f"backtest-{uuid.uuid4().hex[:8]}"
    return settings.with_kafka(
        topic_prefix=f"{run}.", app_id=run, bootstrap_servers=bootstrap, metrics_port=0
    )


OUTPUTS = ("forecasts", "scores", "drift_alerts")


async def _collect(
    settings: Settings,
    expected: int,
    settle_s: float,
    timeout_s: float,
    progress: Progress | None,
    alive: Callable[[], bool] = lambda: True,
) -> dict[str, list[dict]]:
    """The run's forecasts, scores and alerts, read by one consumer at the same time.

    Done when `expected` distinct forecasts are in and then `settle_s` passes without a
    message: a batch's scores and alerts go out with its forecasts, so the last ones are
    already on their way when the last forecast arrives."""
    from core import kafka as bus

    kinds = {settings.kafka.topics[kind]: kind for kind in OUTPUTS}
    consumer = bus.consumer(settings.kafka, *kinds, from_beginning=True)
    await consumer.start()
    received: dict[str, list[dict]] = {kind: [] for kind in OUTPUTS}
    ids: set[str] = set()
    deadline, last = time.monotonic() + timeout_s, time.monotonic()
    try:
        while time.monotonic() < deadline:
            if len(ids) >= expected and time.monotonic() - last > settle_s:
                break
            if not alive() and time.monotonic() - last > settle_s:
                break  # the worker is gone: what it sent is in; nothing more will come
            batches = await consumer.getmany(timeout_ms=int(min(settle_s, 0.2) * 1000))
            for partition, records in batches.items():
                messages = received[kinds[partition.topic]]
                for record in records:
                    messages.append(json.loads(record.value))
                    if messages is received["forecasts"]:
                        ids.add(messages[-1]["id"])
                last = time.monotonic()
            if progress and expected:
                progress(min(len(ids), expected), expected)
    finally:
        await consumer.stop()
    return received


def _worker_env(run: Settings, embedded: bool, ref: str, choice: Path) -> dict[str, str]:
    # A lone, short-lived member: its group forms and ends quickly. On the embedded broker
    # the worker takes the short session itself; Apache Kafka refuses one under 6 s.
    session = {} if embedded else {"TICKCAST_KAFKA__SESSION_TIMEOUT_S": "6.0"}
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": run.kafka.bootstrap_servers,
        "TICKCAST_KAFKA__TOPIC_PREFIX": run.kafka.topic_prefix,
        "TICKCAST_KAFKA__APP_ID": run.kafka.app_id,
        "TICKCAST_KAFKA__METRICS_PORT": "0",
        "TICKCAST_DATA__DIR": str(run.data.dir),
        "TICKCAST_MLFLOW__TRACKING_URI": run.mlflow.tracking_uri,
        "TICKCAST_KAFKA__REBALANCE_TIMEOUT_S": "2",
        # A run of its own is never restarted: no table to keep on disk after it.
        "TICKCAST_KAFKA__TABLE_STORE": "memory",
        # The version this process loaded is in the model cache: the worker starts on it
        # without reading the registry (and without importing MLflow to do so).
        "TICKCAST_MLFLOW__SERVE": ref,
        "TICKCAST_MLFLOW__START_CHOICE": str(choice),
        **session,
    }


class StreamRun:
    """The embedded broker (unless Kafka is configured) and a worker, in a namespace of their
    own, started before the model is known so that their start-up overlaps the caller's.

    The worker serves `ref` and waits until `serve` names the version this process loaded
    (into the local model cache): it then starts on that version without reading the
    registry. Leaving the block kills both: the run's topics and table are thrown away."""

    def __init__(self, settings: Settings, ref: str) -> None:
        self.settings, self.ref = settings, ref
        self.broker: EmbeddedBroker | None = None
        self.worker: subprocess.Popen | None = None
        self.folder = tempfile.TemporaryDirectory()
        self.choice = Path(self.folder.name) / "choice.json"
        self.started = time.perf_counter()

    def __enter__(self) -> StreamRun:
        from core import kafka as bus
        from streams.broker import EmbeddedBroker

        try:
            bootstrap = self.settings.kafka.bootstrap_servers
            if not bootstrap:
                self.broker = EmbeddedBroker().start()
                bootstrap = self.broker.bootstrap
            self.run = namespaced(self.settings, bootstrap)
            asyncio.run(bus.ensure_topics(self.run.kafka))
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "tickcast", "worker", "--model", self.ref],
                env=_worker_env(self.run, self.broker is not None, self.ref, self.choice),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.kill()  # nothing of its state outlives the run: no clean stop to wait
            self.worker.wait()
        if self.broker is not None:
            self.broker.stop()
        self.folder.cleanup()

    def serve(self, version: str) -> None:
        """Let the waiting worker load `version`, which this process has in the model cache."""
        from model.fetch import StartChoice, write_choice

        write_choice(self.choice, StartChoice(ref=self.ref, version=version))

    def replay(
        self,
        ticks: list[PriceTick],
        forecaster: Forecaster,
        progress: Progress | None = None,
        timeout_s: float = 300.0,
    ) -> Replay:
        """Publish `ticks`, collect what the worker makes of them; `serve` must have run."""
        from producers.publish import publish

        asyncio.run(publish(ticks, self.run.kafka))
        expected = expected_forecasts(ticks, forecaster.window)
        settle_s = self.settings.backtest.stream_settle_s
        worker = self.worker
        collected = asyncio.run(
            _collect(
                self.run,
                expected,
                settle_s,
                timeout_s,
                progress,
                alive=lambda: worker is not None and worker.poll() is None,
            )
        )
        raw, scores, alerts = (collected[kind] for kind in OUTPUTS)
        if len(unique_by_id(raw)) < expected:
            died = self.worker is not None and self.worker.poll() is not None
            raise BacktestError(
                f"only {len(raw)} of {expected} forecasts came back"
                + (" (the worker exited)" if died else "")
            )
        # At-least-once delivery: a repeat carries the id of its first delivery; keep one.
        kept = [unique_by_id(raw), unique_by_id(scores), unique_by_id(alerts)]
        return Replay(
            forecasts=sorted(
                map(Forecast.model_validate, kept[0]), key=lambda f: (f.as_of, f.ticker)
            ),
            scores=sorted(
                map(ForecastScore.model_validate, kept[1]), key=lambda s: (s.as_of, s.ticker)
            ),
            alerts=[DriftAlert.model_validate(a) for a in kept[2]],
            scored=len(kept[1]),
            seconds=time.perf_counter() - self.started,
            repeats=len(raw) + len(scores) + len(alerts) - sum(map(len, kept)),
        )


def run_stream(
    ticks: list[PriceTick],
    forecaster: Forecaster,
    settings: Settings,
    progress: Progress | None = None,
    timeout_s: float = 300.0,
) -> Replay:
    """Producer -> broker -> a real worker process -> forecasts, in a namespace of its own.

    Starts the embedded broker unless Kafka is configured; both stop when the run ends.
    """
    with StreamRun(settings, forecaster.version) as run:
        run.serve(forecaster.version)
        return run.replay(ticks, forecaster, progress, timeout_s)


def unique_by_id(messages: list[dict]) -> list[dict]:
    """The first delivery of each id, in order; what every consumer should do."""
    return list({message["id"]: message for message in reversed(messages)}.values())[::-1]
