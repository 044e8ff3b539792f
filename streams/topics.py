"""Topic names from settings, and creating them with the configured partitions."""

from __future__ import annotations

import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from tickcast.config import KafkaSettings

logger = logging.getLogger(__name__)


def topic_names(kafka: KafkaSettings) -> dict[str, str]:
    """Logical name -> actual topic, prefix included."""
    return {
        "prices": kafka.topic(kafka.prices_topic),
        "forecasts": kafka.topic(kafka.forecasts_topic),
        "drift_alerts": kafka.topic(kafka.drift_alerts_topic),
        "dlq": kafka.topic(kafka.dlq_topic),
        "model_events": kafka.topic(kafka.model_events_topic),
    }


async def ensure_topics(kafka: KafkaSettings, bootstrap: str) -> None:
    """Create the bus topics that do not exist yet; keyed by ticker, so partitions matter."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in topic_names(kafka).values() if n not in existing]
        if not missing:
            return
        new = [NewTopic(n, num_partitions=kafka.partitions, replication_factor=1) for n in missing]
        with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
            await admin.create_topics(new)
        logger.info("created topics %s with %d partitions", missing, kafka.partitions)
    finally:
        await admin.close()
