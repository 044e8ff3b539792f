"""core/faust_transport.py: the worker's fetch wait setting reaches Faust's consumer, and its
table manager starts without Faust's pause.

Tansu holds a worker's fetch until its wait runs out, so the wait shows in how long an idle
worker takes to answer a close. Measured here (median of 10 idle closes): 0.06 s with the
default 50 ms, 1.7 s with 4000 ms, and 0.46 s with 4000 ms when the setting is ignored and
Faust's fixed 1500 ms applies. So a median of 1 s or more means the setting took effect;
this fails if an upgrade of Faust or aiokafka stops it. `make bench-stream` measures latency.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from types import SimpleNamespace

import pytest
from faust.tables import TableManager

from core.config import Settings
from core.faust_transport import PromptTableManager
from streams.app import create_app
from tests.streams.conftest import Bus
from tests.streams.test_app import forecaster
from tests.streams.test_worker import synthetic_ticks

LONG_WAIT_MS = 4000
IDLE_CLOSES = 5


def start_steps(on_start, manager: TableManager) -> list[str]:
    """What a table manager's start does, in order, with each step recorded, not run."""
    steps: list[str] = []

    def step(name: str):
        async def record(*args: object) -> None:
            steps.append(name)

        return record

    manager.sleep = step("sleep")
    manager._update_channels = step("subscribe")
    manager._recovery = SimpleNamespace(start=step("recovery"))
    asyncio.run(on_start(manager))
    return steps


def test_the_worker_table_manager_is_faust_s_without_the_pause(tmp_path) -> None:
    settings = Settings(
        data={"dir": tmp_path}, kafka={"bootstrap_servers": "127.0.0.1:9", "table_store": "memory"}
    )
    manager = create_app(settings, forecaster(60, "1")).tables
    assert isinstance(manager, PromptTableManager)
    # Fails when Faust changes its start: then the override must follow it.
    assert start_steps(TableManager.on_start, manager) == ["sleep", "subscribe", "recovery"]
    assert start_steps(PromptTableManager.on_start, manager) == ["subscribe", "recovery"]


@pytest.mark.broker
def test_a_long_fetch_wait_slows_an_idle_worker(bus: Bus) -> None:
    messages, _ = synthetic_ticks(bus, ["AAA"], 60 + IDLE_CLOSES)
    bus.start_worker(env={"TICKCAST_KAFKA__FETCH_MAX_WAIT_MS": str(LONG_WAIT_MS)})
    bus.publish(messages[:60])
    assert len(bus.collect("forecasts", 1)) == 1
    waits = []
    for n in range(61, 61 + IDLE_CLOSES):
        time.sleep(0.3)  # idle: the worker's next fetch is already waiting at the broker
        sent = time.monotonic()
        bus.publish(messages[n - 1 : n])
        assert len(bus.collect("forecasts", n - 59)) == n - 59
        waits.append(time.monotonic() - sent)
    assert statistics.median(waits) >= 1.0, waits
