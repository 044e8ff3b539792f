"""The worker's table on disk: Faust's RocksDB store (through rocksdict), fixed for this worker.

A restarted worker finds its table where it left it and reads from the changelog only what
came after the offset stored with it, instead of every superseded state ever written. Three
fixes to Faust's store, all here:
- each key goes to the database of its changelog partition, which the producer's partitioner
  picks (the table uses it, faust-streaming#497). Faust's store files a write under the
  partition of the event being processed, and a batch has no one event: it asserted;
- a partition whose stored offset is at or past the end of its changelog holds history the
  broker no longer has (a broker without storage came back empty): it is dropped and read
  afresh, where Faust would stop the worker (or, once the new changelog had grown past the
  stored offset, keep stale state);
- each worker process claims a folder of its own (`claim_folder`): RocksDB locks a database
  for one process, and two workers of one group on one machine would wait on each other's
  locks. A restarted worker claims the folder its predecessor left, since the lock dies with
  the process.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import faust
from faust.stores import STORES, rocksdb
from faust.types import TP

logger = logging.getLogger(__name__)

LOCK_FILE = "claimed.lock"
MB = 1 << 20


def claim_folder(root: Path) -> tuple[Path, IO[str]]:
    """The first `root/worker-N` no live process holds, and the open lock that holds it now.

    Keep the handle open for the life of the process: the kernel releases the lock when the
    process ends, however it ends.
    """
    root.mkdir(parents=True, exist_ok=True)
    for slot in itertools.count():
        folder = root / f"worker-{slot}"
        folder.mkdir(exist_ok=True)
        handle = open(folder / LOCK_FILE, "a")  # noqa: SIM115 - held until the process ends
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return folder, handle
    raise AssertionError("unreachable")  # pragma: no cover


def rocksdb_options(memory_mb: int) -> dict[str, Any]:
    """Faust's RocksDB options with `memory_mb` of write buffer and of block cache per
    partition, instead of its 64 MB buffers and 2 GB cache: a ticker's state is kilobytes."""
    return {
        "write_buffer_size": memory_mb * MB,
        "max_write_buffer_number": 2,
        "block_cache_size": memory_mb * MB,
        "driver": "rocksdict",
    }


class TickerStore(rocksdb.Store):
    """Faust's RocksDB store, keyed by changelog partition and wary of a changelog reset."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._partitions: dict[bytes, int] = {}
        # Decoded values as last written or read: a lookup decodes a state only once after a
        # start, not once per batch (a ticker's JSON state takes about as long as its forecast).
        self._values: dict[bytes, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        encoded = self._encode_key(key)
        try:
            return self._values[encoded]
        except KeyError:
            value = super().__getitem__(key)
            self._values[encoded] = value
            return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.set_encoded(self._encode_key(key), self._encode_value(value), value)

    def set_encoded(self, key: bytes, encoded: bytes, value: Any) -> None:
        """Store `value`, already encoded as `encoded`, under `key`."""
        self._set(key, encoded)
        self._values[key] = value

    def _del(self, key: bytes) -> None:
        self._values.pop(key, None)
        super()._del(key)

    def apply_changelog_batch(self, batch: Iterable[Any], to_key: Any, to_value: Any) -> None:
        batch = list(batch)
        for event in batch:
            self._values.pop(event.message.key, None)
        super().apply_changelog_batch(batch, to_key, to_value)

    def revoke_partitions(self, table: Any, tps: set[TP]) -> None:
        self._values.clear()
        super().revoke_partitions(table, tps)

    def reset_state(self) -> None:
        self._values.clear()
        super().reset_state()

    def changelog_partition(self, key: bytes) -> int:
        """The partition the producer sends this key's changelog records to."""
        try:
            return self._partitions[key]
        except KeyError:
            topic = self.table.changelog_topic_name  # type: ignore[attr-defined]
            partition = self.app.producer.key_partition(topic, key).partition
            self._partitions[key] = partition
            return partition

    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = self.changelog_partition(key)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        await self.forget_lost_history(newly_assigned)
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)

    async def forget_lost_history(self, tps: Iterable[TP]) -> list[int]:
        """Drop the partitions whose stored offset the changelog does not reach; their
        numbers. Recovery then reads them from the changelog's start, as a new worker would."""
        mine = self.table.changelog_topic.topics
        stored = {tp: self.persisted_offset(tp) for tp in tps if tp.topic in mine}
        if not stored:
            return []
        ends = await self.app.consumer.highwaters(*stored)
        dropped = []
        for tp, offset in sorted(stored.items()):
            end = ends.get(tp)
            if offset is not None and end is not None and offset >= end:
                logger.warning(
                    "table partition %d was stored up to changelog offset %d, but the "
                    "changelog ends before it (at %d): the broker lost its data, so this "
                    "partition is read afresh from the changelog",
                    tp.partition,
                    offset,
                    end,
                )
                self.drop_partition(tp.partition)
                dropped.append(tp.partition)
        kept = {tp: o for tp, o in stored.items() if o is not None and tp.partition not in dropped}
        total = sum(end or 0 for end in ends.values())
        have = sum(o + 1 for o in kept.values())
        logger.info(
            "table: %d of the %d offsets of its changelog partitions %s are stored here; "
            "recovery reads the other %d",
            have,
            total,
            sorted(tp.partition for tp in stored),
            total - have,
        )
        return dropped

    def drop_partition(self, partition: int) -> None:
        """Close and delete one partition's database; the next use opens an empty one."""
        db = self._dbs.pop(partition, None)
        if db is not None:
            db.close()
        self._key_index.clear()
        self._values.clear()
        shutil.rmtree(self.partition_path(partition), ignore_errors=True)


# Faust resolves a store URL's scheme to "module:attribute", as it does for transports.
SCHEME = "tickcast-rocksdb"
STORES.aliases[SCHEME] = f"{__name__}:TickerStore"


class TickerTable(faust.Table):
    """A table whose writes to a `TickerStore` encode each value once, for the store and its
    changelog record alike (Faust encoded it twice)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        store = self.data
        if not isinstance(store, TickerStore):
            super().__setitem__(key, value)
            return
        encoded, stored_key = store._encode_value(value), store._encode_key(key)
        # The bytes the changelog would carry anyway; recovery decodes them as before. The
        # partition is the store's, so the producer does not hash the key again.
        partition = store.changelog_partition(stored_key)
        self.send_changelog(partition, key, encoded, value_serializer="raw")
        self._sensor_on_set(self, key, value)
        store.set_encoded(stored_key, encoded, value)
