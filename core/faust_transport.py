"""Faust's aiokafka transport with a configurable fetch wait.

Faust fixes its consumer's fetch_max_wait_ms at 1500. Apache Kafka answers a waiting fetch as
soon as data arrives, but Tansu (the embedded broker) holds it for the whole wait, which put
~0.5 s on every forecast. aiokafka reads the private `_fetch_max_wait_ms` when the consumer
starts, so setting it on the new consumer takes effect; tests/streams/test_transport.py shows
it does against the embedded broker, and fails if an upgrade breaks it.

Faust's table manager also sleeps a second before it subscribes, in case tables are still
being declared; tickcast declares its table with the app, so `PromptTableManager` does not.
"""

from __future__ import annotations

from typing import Any, ClassVar

from faust.tables import TableManager
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

SCHEME = "tickcast"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    fetch_max_wait_ms: ClassVar[int] = 1500

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms  # read by start()
        return consumer


def broker_url(bootstrap: str, fetch_max_wait_ms: int) -> str:
    """A Faust broker URL for `host:port[,host:port]` whose consumer waits at most this long."""
    scheme = f"{SCHEME}{fetch_max_wait_ms}"
    thread = type(f"ConsumerThread{fetch_max_wait_ms}", (ConsumerThread,), {})
    thread.fetch_max_wait_ms = fetch_max_wait_ms

    class Consumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> ConsumerThread:
            return thread(self, loop=self.loop, beacon=self.beacon)

    name = f"Transport{fetch_max_wait_ms}"
    # Faust resolves a scheme to "module:attribute", so each wait gets a module attribute.
    globals()[name] = type(name, (faust_aiokafka.Transport,), {"Consumer": Consumer})
    drivers.TRANSPORTS.aliases[scheme] = f"{__name__}:{name}"
    return ";".join(f"{scheme}://{server.strip()}" for server in bootstrap.split(","))


class PromptTableManager(TableManager):
    """Faust's table manager without the second it waits before subscribing.

    Faust sleeps so that tables declared late are still registered; every tickcast table is
    declared with the app, before it starts (a later one would still fail loudly: "Too late
    to add tables"). The second came before each worker's group join, so before its first
    forecast.
    """

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()
