"""The worker's table on disk (RocksDB): a restarted worker reads only the changelog it has not
stored, a broker that came back empty leaves no stale state, two workers on one machine each
keep a folder of their own, and the changelog is compacted where the broker compacts."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from core import kafka as bus_clients
from core.config import KafkaSettings
from streams.table_store import claim_folder
from tests.streams.conftest import Bus
from tests.streams.test_worker import synthetic_ticks

WINDOW = 60
SMALL_BATCHES = {"TICKCAST_KAFKA__BATCH_SIZE": "7"}  # many table writes, so a long changelog
ACKED_S = 2.0  # the table's last changelog writes follow the outputs; their acks store offsets
STORED = re.compile(r"table: (\d+) of the (\d+) offsets of its changelog partitions")


def recovery_reads(bus: Bus, log_name: str) -> tuple[int, int]:
    """(offsets stored on disk, offsets in the changelog) that the worker logged at recovery."""
    text = bus.log_path(log_name).read_text(errors="replace")
    found = STORED.findall(text)
    assert found, f"no recovery line in {bus.log_path(log_name)}"
    stored, total = found[0]
    return int(stored), int(total)


def as_of(forecasts: list[dict]) -> set[tuple[str, str]]:
    return {(f["ticker"], f["as_of"]) for f in forecasts}


def due(messages: list[tuple[str, bytes]], frames: dict, first: int = WINDOW - 1) -> set:
    return {
        (ticker, day.date().isoformat())
        for ticker, frame in frames.items()
        for day in frame["date"].iloc[first:]
    }


def changelog_policy(kafka: KafkaSettings) -> str:
    """cleanup.policy of the table's changelog topic, as the broker reports it."""
    topic = f"{kafka.topic(kafka.app_id)}-ticker-state-changelog"

    async def describe() -> str:
        admin = bus_clients.admin(kafka)
        await admin.start()
        try:
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
        finally:
            await admin.close()
        [resource] = response.resources
        entries = {entry[0]: entry[1] for entry in resource[4]}
        return entries.get("cleanup.policy", "")

    return asyncio.run(describe())


@pytest.mark.broker
def test_a_restarted_worker_reads_only_the_changelog_it_has_not_stored(bus: Bus) -> None:
    messages, frames = synthetic_ticks(bus, ["AAA", "BBB"], 150)
    first = bus.start_worker("first.log", env=SMALL_BATCHES)
    bus.publish(messages[:200])  # each ticker's first 100 closes
    before = due(messages, {t: f.iloc[:100] for t, f in frames.items()})
    bus.collect_until("forecasts", lambda got: as_of(got) >= before)
    time.sleep(ACKED_S)
    first.send_signal(signal.SIGKILL)
    first.wait()
    bus.start_worker("second.log", env=SMALL_BATCHES, verbose=True)
    bus.publish(messages[200:])  # 50 closes each: too few to warm up an empty window
    everything = due(messages, frames)
    forecasts = bus.collect_until("forecasts", lambda got: as_of(got) >= everything, 150)
    assert as_of(forecasts) == everything  # the table came back whole: no close lost
    stored, total = recovery_reads(bus, "second.log")
    assert total >= 2 * 100 // 7  # one changelog record per ticker per batch, at least
    assert stored == total  # every record was on disk: recovery read none of them again
    assert changelog_policy(bus.settings.kafka) == "compact"  # Tansu takes the setting too


@pytest.mark.broker
def test_a_broker_back_empty_leaves_the_stored_table_behind(own_broker) -> None:
    """The worker and the broker both restart, the broker without its data: the stored
    table's offsets are past the end of the new changelog, so it must not be kept. Kept,
    it would skip the same closes sent again as duplicates; Faust's own check would stop
    the worker instead."""
    broker, bus = own_broker
    messages, frames = synthetic_ticks(bus, ["AAA"], 70)
    first = bus.start_worker("first.log")
    bus.publish(messages)
    assert len(bus.collect("forecasts", 70 - WINDOW + 1)) == 70 - WINDOW + 1
    time.sleep(ACKED_S)
    first.send_signal(signal.SIGKILL)
    first.wait()
    broker.stop()
    broker.start()  # the same port, nothing in it
    asyncio.run(bus_clients.ensure_topics(bus.settings.kafka))
    second = bus.start_worker("second.log", verbose=True)
    bus.publish(messages)  # the same closes, on the new broker
    forecasts = bus.collect("forecasts", 70 - WINDOW + 1, timeout_s=90)
    assert as_of(forecasts) == due(messages, frames)
    assert second.poll() is None
    log = bus.log_path("second.log").read_text(errors="replace")
    assert "the broker lost its data" in log and "ConsistencyError" not in log


@pytest.mark.broker
def test_two_workers_of_one_group_on_one_machine_share_the_work(bus: Bus) -> None:
    """One data dir, two live workers: each claims a table folder of its own, since RocksDB
    lets one process at a time open a partition's database."""
    messages, frames = synthetic_ticks(bus, ["AAA", "BBB", "CCC", "DDD"], 80)
    workers = [bus.start_worker(f"w{i}.log") for i in range(2)]
    bus.publish(messages)
    everything = due(messages, frames)
    forecasts = bus.collect_until("forecasts", lambda got: as_of(got) >= everything, 150)
    assert as_of(forecasts) == everything
    assert all(worker.poll() is None for worker in workers)
    tables = bus.root / "faust" / bus.settings.kafka.topic("worker") / "tables"
    assert {p.name for p in tables.iterdir()} >= {"worker-0", "worker-1"}


def test_a_folder_is_claimed_by_one_process_at_a_time_and_freed_with_it(tmp_path) -> None:
    first, held = claim_folder(tmp_path)
    second, other = claim_folder(tmp_path)
    assert (first.name, second.name) == ("worker-0", "worker-1")
    held.close()  # as when the process holding it ends, however it ends
    again, _ = claim_folder(tmp_path)
    assert again == first
    other.close()


@pytest.mark.broker
def test_apache_kafka_compacts_the_changelog(kafka_bus: Bus) -> None:
    messages, _ = synthetic_ticks(kafka_bus, ["AAA"], WINDOW)
    kafka_bus.start_worker()
    kafka_bus.publish(messages)
    assert len(kafka_bus.collect("forecasts", 1)) == 1
    assert changelog_policy(kafka_bus.settings.kafka) == "compact"
