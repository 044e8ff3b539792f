"""What the API process holds: the model in use, the feed's caches, the next run's config."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from pydantic import BaseModel

from api import metrics
from core.config import Hyperparameters, Settings
from model.predictor import Predictor
from schemas.messages import Forecast, ForecastScore, PriceTick

logger = logging.getLogger(__name__)

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
    swap_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.next_run = self.settings.model

    def load(self, ref: str | None = None) -> Predictor:
        """Load `ref` (default: the champion) and swap it in whole."""
        loaded = Predictor.load(self.settings, ref)
        with self.swap_lock:
            self.predictor = loaded
        # Startup, /model/reload, a finished job and a model event all swap through here.
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
