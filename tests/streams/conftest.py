"""Broker-backed fixtures: embedded broker, a champion in a temporary store, workers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core import kafka as bus_clients
from core.config import KafkaSettings, Settings
from core.processes import stop
from model.training import train
from streams.broker import EmbeddedBroker
from streams.tail import TOPICS, consume
from tests.utils.factories import TINY_MODEL, ar1_frame, make_settings, price_data

WORKER_START_TIMEOUT_S = 60.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ExternalKafka:
    bootstrap: str


def docker_engine() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def apache_kafka() -> Iterator[ExternalKafka]:
    """Real Apache Kafka: TICKCAST_TEST_KAFKA=host:port, else a testcontainers broker."""
    if address := os.environ.get("TICKCAST_TEST_KAFKA"):
        yield ExternalKafka(address)
        return
    if not docker_engine():
        pytest.skip(
            "no Docker engine here, so no Apache Kafka via testcontainers; set "
            "TICKCAST_TEST_KAFKA=host:port to run these against an existing cluster"
        )
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer() as container:
        yield ExternalKafka(container.get_bootstrap_server())


@pytest.fixture(scope="session")
def champion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose champion learned calm returns (1.5% daily), so 4x volatility is drift."""
    root = tmp_path_factory.mktemp("champion")
    settings = make_settings(root)
    data = price_data({"CALM": ar1_frame(n=400, phi=0.0, vol=0.015, seed=3)})
    train(data, settings, progress=False)
    return root


@dataclass
class Bus:
    """One isolated namespace on the shared broker: its own topic prefix and Faust app id."""

    broker: EmbeddedBroker | ExternalKafka
    root: Path
    namespace: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
            "TICKCAST_DATA__DIR": str(self.root),
            "TICKCAST_MLFLOW__TRACKING_URI": f"sqlite:///{self.root / 'mlflow.db'}",
            "TICKCAST_KAFKA__TOPIC_PREFIX": f"{self.namespace}.",
            "TICKCAST_KAFKA__APP_ID": "worker",
            "TICKCAST_KAFKA__METRICS_PORT": "0",
            "TICKCAST_KAFKA__PARTITIONS": "3",
        }

    @property
    def settings(self) -> Settings:
        return Settings(
            data={"dir": self.root},
            mlflow={"tracking_uri": f"sqlite:///{self.root / 'mlflow.db'}"},
            kafka={
                "topic_prefix": f"{self.namespace}.",
                "app_id": "worker",
                "partitions": 3,
                "bootstrap_servers": self.broker.bootstrap,
            },
            model=TINY_MODEL,  # what a test trains into this store: a model to serve, fast
        )

    def topic(self, name: str) -> str:
        return self.settings.kafka.topics[name]

    def start_worker(
        self,
        log_name: str = "worker.log",
        metrics_port: int = 0,
        module: str = "tickcast",
        env: dict[str, str] | None = None,
        verbose: bool = False,
    ) -> subprocess.Popen:
        """`python -m <module> worker` in this namespace; its output goes to `log_path`.

        `verbose` logs at INFO (Faust's recovery and the group's rebalances), for a test whose
        failure needs that story.
        """
        log = open(self.log_path(log_name), "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", module, "worker", *(["-v"] if verbose else [])],
            env={**self.env, "TICKCAST_KAFKA__METRICS_PORT": str(metrics_port), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        self.processes.append(process)
        return process

    def log_path(self, log_name: str = "worker.log") -> Path:
        return self.root / f"{self.namespace}-{log_name}"

    def publish(self, messages: list[tuple[str | None, bytes]], topic: str = "prices") -> None:
        asyncio.run(_publish(self.settings.kafka, self.topic(topic), messages))

    def collect(
        self, kind: str, count: int, timeout_s: float = WORKER_START_TIMEOUT_S
    ) -> list[dict]:
        """Read `kind` from the beginning until `count` messages or `timeout_s` of silence."""
        received: list[dict] = []
        asyncio.run(
            consume(
                self.settings.kafka,
                kind,
                True,
                received.append,
                limit=count,
                idle_seconds=timeout_s,
            )
        )
        return received

    def collect_until(
        self,
        kind: str,
        done: Callable[[list[dict]], bool],
        timeout_s: float = WORKER_START_TIMEOUT_S,
    ) -> list[dict]:
        """Read `kind` from the beginning until `done(received)` or the deadline."""
        return asyncio.run(_collect_until(self.settings.kafka, kind, done, timeout_s))

    def stop(self) -> None:
        for process in self.processes:
            stop(process)


async def _publish(
    kafka: KafkaSettings, topic: str, messages: list[tuple[str | None, bytes]]
) -> None:
    producer = bus_clients.producer(kafka)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, key=key.encode() if key is not None else None, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def _collect_until(
    kafka: KafkaSettings,
    kind: str,
    done: Callable[[list[dict]], bool],
    timeout_s: float,
) -> list[dict]:
    consumer = bus_clients.consumer(kafka, kafka.topics[TOPICS[kind]], from_beginning=True)
    await consumer.start()
    received: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(received) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            received += [json.loads(r.value) for records in batches.values() for r in records]
    finally:
        await consumer.stop()
    return received


def open_bus(broker: EmbeddedBroker | ExternalKafka, root: Path) -> Bus:
    handle = Bus(broker, root, f"t{uuid.uuid4().hex[:8]}")
    asyncio.run(bus_clients.ensure_topics(handle.settings.kafka))
    return handle


@pytest.fixture
def bus(broker: EmbeddedBroker, champion_root: Path) -> Iterator[Bus]:
    handle = open_bus(broker, champion_root)
    yield handle
    handle.stop()


@pytest.fixture
def own_broker(champion_root: Path) -> Iterator[tuple[EmbeddedBroker, Bus]]:
    """A broker of the test's own, with a bus on it: for a test that stops or restarts it."""
    broker = EmbeddedBroker().start()
    handle = open_bus(broker, champion_root)
    try:
        yield broker, handle
    finally:
        handle.stop()
        broker.stop()


@pytest.fixture
def kafka_bus(apache_kafka: ExternalKafka, champion_root: Path) -> Iterator[Bus]:
    handle = open_bus(apache_kafka, champion_root)
    yield handle
    handle.stop()


def tick_json(ticker: str, day: str, close: float | str, **extra: object) -> bytes:
    payload = {"ticker": ticker, "date": day, "close": close, "source": "test", **extra}
    return json.dumps(payload).encode()


TickFactory = Callable[..., bytes]
