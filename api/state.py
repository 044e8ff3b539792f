"""What the API process holds: the model in use, the feed's caches, the next run's config."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from api import metrics
from api.coalesce import Coalescer
from core.config import Hyperparameters, Settings
from model.errors import ModelNotFoundError
from model.fetch import fetch, read_record
from model.predictor import Predictor
from schemas.messages import Forecast, ForecastScore, PriceTick

logger = logging.getLogger(__name__)

T = TypeVar("T")

SEEN_IDS = 100_000  # ids remembered to spot repeats; a restart replays far fewer


@dataclass
class ServiceState:
    settings: Settings
    predictor: Predictor | None = None
    next_run: Hyperparameters = field(default_factory=Hyperparameters)
    latest: dict[str, Forecast] = field(default_factory=dict)
    closes: dict[str, deque] = field(default_factory=dict)  # ticker -> (date, close, o, h, l)
    history: dict[str, deque] = field(default_factory=dict)  # ticker -> recent forecasts
    scores: dict[str, deque] = field(default_factory=dict)  # ticker -> recent scores
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)  # recent message ids
    subscribers: set[asyncio.Queue] = field(default_factory=set)
    feed_connected: bool = False
    # One load at a time: each may fetch into the model cache, and an old model's first load
    # exports it. Parallel reloads gave 500s when they overlapped.
    load_lock: threading.Lock = field(default_factory=threading.Lock)
    # Loads asked for on the event loop queue on this one thread, not in the loop's shared
    # pool, where waiting reloads would hold every thread. Made on first use, ended by `close`.
    _loader: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    # POST /predict's windows, forecast together per loop turn (the fast path's and the route's)
    coalescer: Coalescer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.next_run = self.settings.model
        self.coalescer = Coalescer(self.settings.api.max_batch)

    def load(self, ref: str | None = None) -> Predictor:
        """Load `ref` (default: the alias served), then swap it in whole.

        Startup, /model/reload, a finished job and a model event all swap through here.
        """
        with self.load_lock:
            return self._swap(Predictor.load(self.settings, ref))

    async def off_loop(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` on the loader thread, for callers on the event loop."""
        if self._loader is None:
            self._loader = ThreadPoolExecutor(1, thread_name_prefix="model-load")
        return await asyncio.get_running_loop().run_in_executor(self._loader, work, *args)

    async def reload(self, ref: str | None = None) -> Predictor:
        """`load`, off the event loop."""
        return await self.off_loop(self.load, ref)

    def close(self) -> None:
        """End the loader thread once its queued loads are done."""
        loader, self._loader = self._loader, None
        if loader is not None:
            loader.shutdown(wait=False)

    def refresh_champion(self) -> Predictor | None:
        """Serve the champion if its alias moved since this process last looked (a promotion
        announced while the feed was away); None when it had not, or there is none."""
        mlflow = self.settings.mlflow
        if mlflow.served.isdigit():  # a pinned version does not follow any alias
            return None
        with self.load_lock:
            try:  # a child process reads the registry: this one never imports MLflow
                folder = fetch(self.settings, mlflow.served)
            except ModelNotFoundError:
                return None
            version = read_record(folder).version
            if self.predictor and self.predictor.version == version:
                return None
            logger.info("the champion moved to v%s while the feed was away", version)
            return self._swap(Predictor.from_cache(self.settings, folder))

    def _swap(self, loaded: Predictor) -> Predictor:
        self.predictor = loaded
        metrics.MODEL_VERSION.labels(loaded.name).set(float(loaded.version))
        logger.info("serving %s v%s", loaded.name, loaded.version)
        return loaded

    @property
    def closes_kept(self) -> int:
        """Closes remembered per ticker: enough for the served model's window."""
        served = self.predictor.window if self.predictor else 0
        return max(served, self.settings.kafka.closes_kept)

    def remember_close(self, tick: PriceTick) -> None:
        window = self.closes.get(tick.ticker)
        if window is None or window.maxlen < self.closes_kept:
            window = self.closes[tick.ticker] = deque(window or (), maxlen=self.closes_kept)
        day = tick.date.isoformat()
        if not window or day > window[-1][0]:
            window.append((day, tick.close, tick.open, tick.high, tick.low))

    def first_delivery(self, kind: str, message_id: str | None) -> bool:
        """False for an id seen before: a repeat after a worker restart, counted and dropped."""
        if message_id is None:  # version 1 messages carry no id
            return True
        if message_id in self.seen:
            metrics.DUPLICATES.labels(kind).inc()
            return False
        self.seen[message_id] = None
        if len(self.seen) > SEEN_IDS:
            self.seen.popitem(last=False)
        return True

    def remember_forecast(self, forecast: Forecast) -> None:
        if not self.first_delivery("forecasts", forecast.id):
            return
        self.latest[forecast.ticker] = forecast
        self.history.setdefault(forecast.ticker, deque(maxlen=120)).append(forecast)
        self._publish("forecast", forecast)

    def remember_score(self, score: ForecastScore) -> None:
        if not self.first_delivery("forecast-scores", score.id):
            return
        self.scores.setdefault(score.ticker, deque(maxlen=60)).append(score)
        self._publish("score", score)

    def _publish(self, event: str, message: BaseModel) -> None:
        for queue in list(self.subscribers):
            if queue.qsize() < 1000:  # a stalled dashboard never blocks the feed
                queue.put_nowait((event, message))
