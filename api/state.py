"""What the API process holds: the model in use, the feed's caches, the next run's config."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from api import metrics
from core.config import Hyperparameters, Settings
from model.predictor import Predictor
from schemas.messages import Forecast

logger = logging.getLogger(__name__)


@dataclass
class ServiceState:
    settings: Settings
    predictor: Predictor | None = None
    next_run: Hyperparameters = field(default_factory=Hyperparameters)
    latest: dict[str, Forecast] = field(default_factory=dict)
    closes: dict[str, deque] = field(default_factory=dict)  # ticker -> (date, close) pairs
    history: dict[str, deque] = field(default_factory=dict)  # ticker -> recent forecasts
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

    def remember_close(self, ticker: str, day: str, close: float) -> None:
        window = self.closes.get(ticker)
        if window is None or window.maxlen < self.closes_kept:
            window = self.closes[ticker] = deque(window or (), maxlen=self.closes_kept)
        if not window or day > window[-1][0]:
            window.append((day, close))

    def remember_forecast(self, forecast: Forecast) -> None:
        self.latest[forecast.ticker] = forecast
        self.history.setdefault(forecast.ticker, deque(maxlen=120)).append(forecast)
        for queue in list(self.subscribers):
            if queue.qsize() < 1000:  # a stalled dashboard never blocks the feed
                queue.put_nowait(forecast)
