"""Run the Faust worker: load the champion, make sure the topics exist, then consume."""

from __future__ import annotations

import asyncio
import logging

from faust.worker import Worker

from core import kafka as bus
from core.config import Settings
from model.predictor import Predictor
from streams import metrics
from streams.app import create_app

logger = logging.getLogger(__name__)


def run_worker(settings: Settings, model: str | None = None, loglevel: str = "WARNING") -> None:
    """Blocks until SIGINT/SIGTERM; Faust leaves the consumer group cleanly on the way out."""
    bootstrap = bus.bootstrap(settings.kafka)
    predictor = Predictor.load(settings, model)
    asyncio.run(bus.ensure_topics(settings.kafka))
    app = create_app(settings, predictor.forecaster)
    metrics.serve(settings.kafka.metrics_port, settings.kafka.metrics_host)
    logger.info("worker: %s v%s on %s", predictor.name, predictor.version, bootstrap)
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
