"""How many published closes the worker has answered, read from its consumer group's
committed offsets on the prices topic.

A close is answered once the worker has committed past it: a forecast, a skip (redelivered,
duplicate, stale, or too early for a full window) or a dead letter, and by then its outputs
are on the bus (`streams/app.py` sends a batch's outputs before its offsets can be committed).
Counting offsets needs no guess of how many forecasts a replay should give.
"""

from __future__ import annotations

import logging

from aiokafka import TopicPartition

from core import kafka as bus
from core.config import KafkaSettings

logger = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]


class WorkerProgress:
    """Reads the worker group's committed offsets without joining the group (the partitions
    are assigned by hand, so the workers are never rebalanced)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.topic = kafka.topics["prices"]
        # Faust's consumer group is the app id (streams/app.py names the app so)
        self.consumer = bus.consumer(
            kafka, group_id=kafka.topic(kafka.app_id), enable_auto_commit=False
        )
        self.partitions: list[TopicPartition] = []

    async def start(self) -> None:
        with bus.connection_errors(self.kafka):
            await self.consumer.start()
        await self.consumer.topics()  # metadata, so that the partitions are known
        numbers = self.consumer.partitions_for_topic(self.topic) or set()
        self.partitions = [TopicPartition(self.topic, n) for n in sorted(numbers)]
        self.consumer.assign(self.partitions)

    async def ends(self) -> Offsets:
        """Each partition's end offset: where the next close published will land."""
        return dict(await self.consumer.end_offsets(self.partitions))

    async def answered(self, before: Offsets, after: Offsets) -> int:
        """How many of the closes between the offsets `before` and `after` the worker has
        committed."""
        done = 0
        for partition in self.partitions:
            first, last = before.get(partition, 0), after.get(partition, 0)
            if last <= first:
                continue
            committed = await self.consumer.committed(partition) or 0
            done += max(0, min(committed, last) - first)
        return done

    async def stop(self) -> None:
        await self.consumer.stop()
