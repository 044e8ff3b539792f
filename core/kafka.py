"""The one place that builds Kafka clients from the settings, with the broker workarounds.

Workarounds, all here:
- producers never enable idempotence: Tansu (the embedded broker) rejects InitProducerId;
- consumers wait at most `fetch_max_wait_ms` for data: Tansu holds a fetch for its whole
  wait, where Apache Kafka answers as soon as data arrives;
- the Faust worker gets the same fetch wait through `core.faust_transport`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from core.config import KafkaSettings
from core.errors import UnavailableError

logger = logging.getLogger(__name__)

NO_KAFKA = (
    "no Kafka: set KAFKA_BOOTSTRAP_SERVERS=host:port, or start one with `tickcast broker` "
    "(or run everything with `make up`)"
)


def bootstrap(kafka: KafkaSettings) -> str:
    """The configured `host:port[,host:port]`, or an error saying how to get a broker."""
    if not kafka.bootstrap_servers:
        raise UnavailableError(NO_KAFKA)
    return kafka.bootstrap_servers


def producer(kafka: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas, never idempotent (see above)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap(kafka),
        **{"acks": "all", **options, "enable_idempotence": False},
    )


def consumer(
    kafka: KafkaSettings,
    *topics: str,
    from_beginning: bool = False,
    group_id: str | None = None,
    **options: Any,
) -> AIOKafkaConsumer:
    """A consumer of `topics`; without a group every reader sees every message."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap(kafka),
        group_id=group_id,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **{"fetch_max_wait_ms": kafka.fetch_max_wait_ms, **options},
    )


def admin(kafka: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap(kafka))


async def ensure_topics(kafka: KafkaSettings) -> None:
    """Create the bus topics that do not exist yet; keyed by ticker, so partitions matter."""
    client = admin(kafka)
    await client.start()
    try:
        existing = set(await client.list_topics())
        missing = [name for name in kafka.topics.values() if name not in existing]
        if not missing:
            return
        new = [NewTopic(n, num_partitions=kafka.partitions, replication_factor=1) for n in missing]
        with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
            await client.create_topics(new)
        logger.info("created topics %s with %d partitions", missing, kafka.partitions)
    finally:
        await client.close()


def faust_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments of `faust.App` for this bus: broker URL, transport and timeouts."""
    from core.faust_transport import broker_url  # imports faust: only the worker needs it

    return {
        "broker": broker_url(bootstrap(kafka), kafka.fetch_max_wait_ms),
        "producer_acks": -1,
        "processing_guarantee": kafka.processing_guarantee,
        "broker_session_timeout": kafka.session_timeout_s,
        "broker_rebalance_timeout": kafka.rebalance_timeout_s,
        "broker_heartbeat_interval": min(3.0, kafka.session_timeout_s / 3),
    }
