"""Run the Faust worker: load the champion, make sure the topics exist, then consume."""

from __future__ import annotations

import asyncio
import gc
import logging

from faust.worker import Worker

from core import kafka as bus
from core.config import Settings
from model.predictor import Predictor
from streams import metrics
from streams.app import create_app

logger = logging.getLogger(__name__)


class QuietWorker(Worker):
    """Faust's worker, with the root logger at the level asked for.

    mode leaves the root logger at DEBUG and filters in its handler, so every debug call of
    aiokafka and Faust built a record for nothing: about a tenth of a replay's time.
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        logger.setLevel(level)


def run_worker(settings: Settings, model: str | None = None, loglevel: str = "WARNING") -> None:
    """Blocks until SIGINT/SIGTERM; Faust leaves the consumer group cleanly on the way out.

    A broker that does not answer is one error before the model loads: Faust would retry it
    for ever. On the embedded broker the session timeout is the embedded one unless set
    (`bus.session_timeout_s`), so a restarted worker joins its group once.
    """
    bootstrap = bus.bootstrap(settings.kafka)
    cluster_id = asyncio.run(bus.check_reachable(settings.kafka))
    settings = settings.with_kafka(
        session_timeout_s=bus.session_timeout_s(settings.kafka, cluster_id)
    )
    predictor = Predictor.load(settings, model)
    asyncio.run(bus.ensure_topics(settings.kafka))
    app = create_app(settings, predictor.forecaster)
    metrics.serve(settings.kafka.metrics_port, settings.kafka.metrics_host)
    logger.info(
        "worker: %s v%s on %s (cluster %s), session timeout %g s",
        predictor.name,
        predictor.version,
        bootstrap,
        cluster_id or "unnamed",
        settings.kafka.session_timeout_s,
    )
    gc.freeze()  # start-up's objects (Faust, the model) are never scanned by the GC again
    QuietWorker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
