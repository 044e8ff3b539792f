"""Faust's aiokafka transport with a configurable fetch wait.

Faust fixes the consumer's fetch_max_wait_ms at 1500. Apache Kafka answers a waiting fetch
as soon as data arrives, but Tansu (the embedded broker) holds it for the whole wait, which
put ~0.5 s on every forecast. The wait comes from KafkaSettings.fetch_max_wait_ms.
"""

from __future__ import annotations

import logging

from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

logger = logging.getLogger(__name__)

SCHEME = "tickcast"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):  # type: ignore[no-untyped-def]
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.app.tickcast_fetch_max_wait_ms  # read at start()
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


def broker_url(bootstrap: str) -> str:
    """A Faust broker URL for `host:port[,host:port]` that uses this transport."""
    drivers.TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
    return ";".join(f"{SCHEME}://{server.strip()}" for server in bootstrap.split(","))
