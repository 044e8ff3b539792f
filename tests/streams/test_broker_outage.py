"""A broker that goes away and comes back: the worker says so in a few lines, and either goes
on losing nothing or, where the broker came back empty, exits for a restart in one line."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time

import pytest

from streams.app import EXIT_RESTART
from tests.streams.conftest import Bus
from tests.streams.test_worker import synthetic_ticks

pytestmark = pytest.mark.broker

WINDOW = 60
# The worker repeats its outage line once per `outage_log_every_s` (30 s by default, with a
# 35 s outage here before): shortened, so an outage that outlasts it takes seconds, not a
# minute. The gap between the two leaves the broker time to start again (and the worker to
# see it) before one more line would be due. Both outages outlast the 2 s session timeout.
LOG_EVERY_S = 8.0
OUTAGE_S = 9.0
QUIET = {"TICKCAST_KAFKA__OUTAGE_LOG_EVERY_S": str(LOG_EVERY_S)}


def lines_about_the_broker(bus: Bus, log_name: str, after: int) -> list[str]:
    lines = bus.log_path(log_name).read_text(errors="replace").splitlines()[after:]
    return [line for line in lines if line.strip()]


def forecasting(bus: Bus, messages: list) -> tuple[subprocess.Popen, int]:
    """A worker that has forecast `messages`, and how many lines its log held by then."""
    worker = bus.start_worker(env=QUIET)
    bus.publish(messages)
    due = len(messages) - WINDOW + 1
    assert len(bus.collect("forecasts", due)) == due
    return worker, len(bus.log_path().read_text(errors="replace").splitlines())


def test_a_broker_that_stops_answering_is_survived_in_a_few_lines(own_broker) -> None:
    """The broker freezes (its process paused, its data kept), as in a network partition."""
    broker, bus = own_broker
    messages, frames = synthetic_ticks(bus, ["AAA"], 100)
    worker, before = forecasting(bus, messages[:70])
    os.kill(broker.process.pid, signal.SIGSTOP)
    time.sleep(OUTAGE_S)
    os.kill(broker.process.pid, signal.SIGCONT)
    bus.publish(messages[70:])
    forecasts = bus.collect("forecasts", 100 - WINDOW + 1, timeout_s=90)
    days = [d.date().isoformat() for d in frames["AAA"]["date"]]
    assert sorted({f["as_of"] for f in forecasts}) == days[WINDOW - 1 :]  # no close lost
    assert worker.poll() is None
    said = lines_about_the_broker(bus, "worker.log", before)
    assert len(said) <= 2 + math.ceil(OUTAGE_S / LOG_EVERY_S), said
    assert not any("Traceback" in line for line in said)


def test_a_broker_back_without_its_topics_makes_the_worker_exit_in_one_line(own_broker) -> None:
    """A broker without storage restarts empty: offsets and changelog are gone, so the worker
    says why and exits for its supervisor, after creating the topics again, so closes sent
    in the meantime wait for the next worker."""
    broker, bus = own_broker
    messages, _ = synthetic_ticks(bus, ["AAA"], 140)
    worker, before = forecasting(bus, messages[:70])
    broker.stop()
    time.sleep(OUTAGE_S)
    broker.start()
    back = time.monotonic()
    assert worker.wait(timeout=60) == EXIT_RESTART
    assert time.monotonic() - back < 60
    said = lines_about_the_broker(bus, "worker.log", before)
    # the outage's lines, and why it exits
    assert len(said) <= 3 + math.ceil(OUTAGE_S / LOG_EVERY_S), said
    assert "came back without" in said[-1] and not any("Traceback" in line for line in said)
    bus.publish(messages[70:])  # kept: the topics exist again
    bus.start_worker("second.log")
    forecasts = bus.collect("forecasts", 140 - 70 - WINDOW + 1, timeout_s=90)
    assert len(forecasts) == 140 - 70 - WINDOW + 1  # a fresh table warms up on them
