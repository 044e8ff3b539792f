"""Nothing lost, nothing twice: republished history, rewound offsets, bad dates and a bad model
event, against the embedded broker and a real worker process."""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from model.training import train
from schemas.messages import ModelEvent
from streams.app import EXIT_RESTART
from streams.broker import free_port
from tests.streams.conftest import Bus, open_bus, tick_json
from tests.streams.test_worker import synthetic_ticks
from tests.utils.factories import ar1_frame, make_settings, price_data
from tests.utils.waiting import eventually

pytestmark = pytest.mark.broker

WINDOW = 60


def metrics(port: int) -> dict[str, float]:
    """The worker's /metrics as name{labels} -> value; {} while it is not serving yet."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    except OSError:
        return {}
    text = text.decode()
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


def skipped(port: int, reason: str) -> float:
    return metrics(port).get(f'tickcast_skipped_total{{reason="{reason}"}}', 0.0)


def test_history_published_twice_is_forecast_once_and_never_dead(bus: Bus) -> None:
    messages, _ = synthetic_ticks(bus, ["AAA", "BBB"], 150)  # 300 closes
    port = free_port()
    bus.start_worker(metrics_port=port)
    bus.publish(messages)
    due = 2 * (150 - WINDOW + 1)
    assert len(bus.collect("forecasts", due)) == due
    bus.publish(messages)  # the same closes again, at new offsets
    eventually(lambda: skipped(port, "duplicate") + skipped(port, "stale") == len(messages))
    assert skipped(port, "duplicate") == 2 * WINDOW and skipped(port, "stale") == 2 * 90
    assert len(bus.collect("forecasts", due + 1, timeout_s=3)) == due  # nothing new
    assert bus.collect("dlq", 1, timeout_s=3) == []


def test_a_restart_that_rewinds_the_offsets_changes_nothing(bus: Bus) -> None:
    """A worker that never committed is killed: its successor reads every close again from
    offset 0, and the table, restored from its changelog, knows them all."""
    messages, _ = synthetic_ticks(bus, ["AAA", "BBB"], 100)
    never = {"TICKCAST_KAFKA__COMMIT_INTERVAL_S": "3600"}
    worker = bus.start_worker(env=never)
    bus.publish(messages)
    due = 2 * (100 - WINDOW + 1)
    assert len(bus.collect("forecasts", due)) == due
    time.sleep(2.0)  # the table's last changelog writes follow the outputs
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    port = free_port()
    bus.start_worker("restarted.log", metrics_port=port, env=never)
    eventually(lambda: skipped(port, "redelivered") == len(messages), timeout_s=120)
    assert len(bus.collect("forecasts", due + 1, timeout_s=3)) == due
    assert bus.collect("dlq", 1, timeout_s=3) == []


def test_far_future_and_impossible_dates_go_to_the_dlq_alone(bus: Bus) -> None:
    messages, frames = synthetic_ticks(bus, ["AAA"], 70)
    bad = [
        ("AAA", tick_json("AAA", "9999-12-31", 10.0)),
        ("AAA", tick_json("AAA", "2030-01-02", 10.0)),
    ]
    stream = messages[:64] + bad[:1] + messages[64:66] + bad[1:] + messages[66:]
    bus.start_worker()
    bus.publish(stream)
    forecasts = bus.collect("forecasts", 70 - WINDOW + 1)
    days = [d.date().isoformat() for d in frames["AAA"]["date"]]
    assert [f["as_of"] for f in forecasts] == days[WINDOW - 1 :]  # every valid close
    letters = bus.collect("dlq", 2)
    assert sorted(letter["payload"] for letter in letters) == sorted(b.decode() for _, b in bad)
    assert all("is after the next trading day" in letter["error"] for letter in letters)


def test_a_model_event_for_a_missing_version_leaves_the_worker_forecasting(bus: Bus) -> None:
    messages, _ = synthetic_ticks(bus, ["AAA"], 80)
    port = free_port()
    worker = bus.start_worker(metrics_port=port)
    bus.publish(messages[:70])
    assert len(bus.collect("forecasts", 11)) == 11
    event = ModelEvent(model_name=bus.settings.mlflow.model_name, model_version="999")
    bus.publish([(event.model_name, event.model_dump_json().encode())], topic="model_events")
    eventually(lambda: metrics(port).get("tickcast_model_events_failed_total") == 1.0)
    bus.publish(messages[70:])
    forecasts = bus.collect("forecasts", 21)
    assert len(forecasts) == 21 and {f["model_version"] for f in forecasts} == {"1"}
    assert worker.poll() is None
    log = bus.log_path().read_text()
    assert "ignoring the model event for tickcast-lstm v999" in log and "v1 keeps" in log


def test_a_failing_forward_pass_exits_for_a_restart_and_dead_letters_nothing(
    broker, tmp_path: Path
) -> None:
    """A model whose weights are all NaN cannot forecast anything: that is not the closes'
    fault, so none is dead-lettered; the worker names the batch and exits uncommitted."""
    settings = make_settings(tmp_path)
    train(price_data({"CALM": ar1_frame(n=300, phi=0.0, seed=5)}), settings, progress=False)
    for network in tmp_path.rglob("model.onnx"):  # the graph every process serves
        graph = onnx.load(network)
        for weight in graph.graph.initializer:
            values = numpy_helper.to_array(weight)
            if values.dtype.kind == "f":
                weight.CopyFrom(numpy_helper.from_array(np.full_like(values, np.nan), weight.name))
        onnx.save(graph, network)
    bus = open_bus(broker, tmp_path)
    messages, _ = synthetic_ticks(bus, ["AAA"], WINDOW + 1)
    worker = bus.start_worker()
    bus.publish(messages)
    assert worker.wait(timeout=120) == EXIT_RESTART
    log = bus.log_path().read_text()
    assert "the forecast agent failed: the forward pass failed on a batch" in log
    assert "offset from" in log and "exiting (code 70)" in log
    assert bus.collect("dlq", 1, timeout_s=3) == []
    assert bus.collect("forecasts", 1, timeout_s=3) == []
