"""The one place that builds Kafka clients from the settings, with the broker workarounds.

Workarounds, all here:
- producers never enable idempotence: Tansu (the embedded broker) rejects InitProducerId;
- consumers wait at most `fetch_max_wait_ms` for data: Tansu holds a fetch for its whole
  wait, where Apache Kafka answers as soon as data arrives;
- the Faust worker gets the same fetch wait through `core.faust_transport`.

Commands check at start-up that a broker answers (`check_reachable`), within
`connect_timeout_s`: aiokafka's clients would raise a long traceback, and Faust's would
retry for ever. Its answer names the cluster, which tells the worker whether the broker is
the embedded one (`session_timeout_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import collect_hosts
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from core.config import KafkaSettings
from core.errors import KafkaUnreachableError, UnavailableError

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 0.5  # a local or LAN broker accepts within milliseconds; health checks wait
# The cluster id Tansu reports unless started with another; `streams.broker` never sets one.
EMBEDDED_CLUSTER_ID = "tansu_cluster"
NO_KAFKA = (
    "no Kafka: set KAFKA_BOOTSTRAP_SERVERS=host:port, or start one with `tickcast broker` "
    "(or run everything with `make up`)"
)
UNREACHABLE_HINT = (
    "is the broker running? Set KAFKA_BOOTSTRAP_SERVERS to its host:port, or start one with "
    "`tickcast broker`"
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


def admin(kafka: KafkaSettings, **options: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap(kafka), **options)


def unreachable(kafka: KafkaSettings, why: str) -> KafkaUnreachableError:
    """The one line every command prints when no broker answers: address, cause, what to do."""
    return KafkaUnreachableError(
        f"cannot reach Kafka at {kafka.bootstrap_servers} ({why}): {UNREACHABLE_HINT}"
    )


@contextlib.contextmanager
def connection_errors(kafka: KafkaSettings) -> Iterator[None]:
    """aiokafka's 'Unable to bootstrap' as `unreachable`'s one line, not a traceback.

    For a broker that went away between `check_reachable` and a client's start.
    """
    try:
        yield
    except KafkaConnectionError as exc:
        raise unreachable(kafka, "the connection failed") from exc


async def check_reachable(kafka: KafkaSettings) -> str:
    """Raise `unreachable` within `connect_timeout_s` unless a broker answers for metadata;
    return the cluster id it reports ("" when it reports none).

    A plain TCP connect comes first, so a closed port or an unknown host is named with its
    cause and without aiokafka's own error lines.
    """
    limit = kafka.connect_timeout_s
    bootstrap(kafka)
    try:
        async with asyncio.timeout(limit):
            await _any_accepts(kafka)
            client = admin(kafka, request_timeout_ms=int(limit * 1000))
            try:
                await client.start()
                cluster = await client.describe_cluster()
            finally:
                await client.close()
    except TimeoutError as exc:
        raise unreachable(kafka, f"no answer within {limit:g} s") from exc
    except KafkaError as exc:
        raise unreachable(kafka, "it took the connection but gave no Kafka metadata") from exc
    return cluster.get("cluster_id") or ""


def session_timeout_s(kafka: KafkaSettings, cluster_id: str) -> float:
    """The worker's session timeout on the cluster `cluster_id`: `session_timeout_s` when set
    or on Apache Kafka, else `embedded_session_timeout_s` on the embedded broker.

    Tansu holds every group join for half the session timeout, and a dead member's session
    must end before its partitions move: at 10 s a SIGKILLed worker's replacement joined, then
    joined again once the old session ended (13 s later). Apache Kafka refuses a session
    under 6 s by default, and hands a restarted worker its partitions without that wait only
    with static membership, which tickcast does not use (on Tansu it holds a join and a sync
    for 3 s each).
    """
    if "session_timeout_s" in kafka.model_fields_set or cluster_id != EMBEDDED_CLUSTER_ID:
        return kafka.session_timeout_s
    return kafka.embedded_session_timeout_s


async def answers(kafka: KafkaSettings, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a bootstrap server accepts a TCP connection within `timeout_s`: the cheap
    probe of health checks and watchdogs (`check_reachable` also asks for metadata)."""
    try:
        async with asyncio.timeout(timeout_s):
            await _any_accepts(kafka)
    except (KafkaUnreachableError, TimeoutError):
        return False
    return True


async def _any_accepts(kafka: KafkaSettings) -> None:
    """Return at the first bootstrap server that accepts a TCP connection."""
    reasons = []
    failure: OSError | None = None
    hosts = collect_hosts(kafka.bootstrap_servers, randomize=False)
    for host, port, _family in hosts:
        try:
            _reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            failure = exc
            reasons.append(f"{host}:{port} {_refusal(exc)}" if len(hosts) > 1 else _refusal(exc))
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise unreachable(kafka, "; ".join(reasons)) from failure


def _refusal(exc: OSError) -> str:
    """Why a connection failed, in words: 'connection refused', 'unknown host'..."""
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if exc.errno == errno.ECONNREFUSED or isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return exc.strerror or str(exc)


async def ensure_topics(kafka: KafkaSettings) -> list[str]:
    """Create the bus topics that do not exist yet, and return their names; keyed by ticker,
    so partitions matter."""
    client = admin(kafka)
    try:
        with connection_errors(kafka):
            await client.start()
        existing = set(await client.list_topics())
        missing = [name for name in kafka.topics.values() if name not in existing]
        if not missing:
            return []
        new = [NewTopic(n, num_partitions=kafka.partitions, replication_factor=1) for n in missing]
        with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
            await client.create_topics(new)
        logger.info("created topics %s with %d partitions", missing, kafka.partitions)
        return missing
    finally:
        await client.close()


def faust_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments of `faust.App` for this bus: broker URL, transport and timeouts."""
    from core.faust_transport import PromptTableManager, broker_url  # imports faust

    return {
        "broker": broker_url(bootstrap(kafka), kafka.fetch_max_wait_ms),
        "TableManager": PromptTableManager,
        "producer_acks": -1,
        "producer_max_batch_size": kafka.producer_batch_kb * 1024,
        "processing_guarantee": kafka.processing_guarantee,
        "broker_commit_interval": kafka.commit_interval_s,
        "broker_session_timeout": kafka.session_timeout_s,
        "broker_rebalance_timeout": kafka.rebalance_timeout_s,
        "broker_heartbeat_interval": min(3.0, kafka.session_timeout_s / 3),
    }
