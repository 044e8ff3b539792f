"""The worker's fetch wait setting reaches Faust's consumer (core/faust_transport.py).

Tansu holds a worker's fetch until its wait runs out, so the wait shows in how long an idle
worker takes to answer a close. Measured here (median of 10 idle closes): 0.06 s with the
default 50 ms, 1.7 s with 4000 ms, and 0.46 s with 4000 ms when the setting is ignored and
Faust's fixed 1500 ms applies. So a median of 1 s or more means the setting took effect;
this fails if an upgrade of Faust or aiokafka stops it. `make bench-stream` measures latency.
"""

from __future__ import annotations

import statistics
import time

import pytest

from tests.streams.conftest import Bus
from tests.streams.test_worker import synthetic_ticks

pytestmark = pytest.mark.broker

LONG_WAIT_MS = 4000
IDLE_CLOSES = 5


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
