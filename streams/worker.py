"""Run the Faust worker: load the champion, make sure the topics exist, then consume."""

from __future__ import annotations

import asyncio
import logging

from faust.worker import Worker

from model.predictor import Predictor
from streams import metrics
from streams.app import create_app
from streams.topics import ensure_topics
from tickcast.config import Settings

logger = logging.getLogger(__name__)


def run_worker(
    settings: Settings, bootstrap: str, model: str | None = None, loglevel: str = "WARNING"
) -> None:
    """Blocks until SIGINT/SIGTERM; Faust leaves the consumer group cleanly on the way out."""
    predictor = Predictor.load(settings, model)
    asyncio.run(ensure_topics(settings.kafka, bootstrap))
    app = create_app(settings, bootstrap, predictor)
    metrics.serve(settings.kafka.metrics_port, settings.kafka.metrics_host)
    logger.info("worker: %s v%s on %s", predictor.name, predictor.version, bootstrap)
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
