"""`up`'s launcher pieces that need no broker: retiring a child to start it again, and the
choice file its worker and API start on."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from core.config import Settings
from tickcast.launcher import Children, Served, UpOptions, start_bus, start_services

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
DEAF_SLEEPER = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
]
STOP_TIMEOUT_S = 15.0  # what `stop` waits for a child that ignores SIGTERM


def test_a_retired_child_is_stopped_and_forgotten_and_the_others_run_on() -> None:
    """Even one deaf to SIGTERM, as the API is while its start-up waits for `up`'s choice:
    retiring it does not wait for a stop timeout."""
    children = Children(lambda _name, _line: None)
    worker = children.start("worker", DEAF_SLEEPER, dict(os.environ))
    api = children.start("API", SLEEPER, dict(os.environ))
    try:
        time.sleep(1.0)  # the worker has set SIGTERM aside
        started = time.monotonic()
        children.retire("worker")
        assert time.monotonic() - started < STOP_TIMEOUT_S
        assert worker.poll() is not None
        assert [name for name, _ in children.processes] == ["API"]
        assert api.poll() is None
        children.check()  # a retired child that exited is no reason to stop `up`
    finally:
        children.stop(timeout_s=5)


def test_the_worker_and_the_api_wait_for_ups_choice_and_pick_their_own_session(
    tmp_path: Path, monkeypatch
) -> None:
    """Both read the choice file `up` writes; the worker picks its session timeout from the
    broker it finds (core.kafka.session_timeout_s), so `up` sets none."""
    started: list[dict[str, str]] = []

    class Recording(Children):
        def start(self, name: str, args: list[str], env: dict[str, str]):  # type: ignore[override]
            started.append(env)

    settings = Settings(data={"dir": tmp_path}).with_kafka(bootstrap_servers="127.0.0.1:1")
    served = Served("champion", tmp_path / "choice.json", "token")
    options = UpOptions(source="synthetic", tickers=["AAA"])
    monkeypatch.delenv("TICKCAST_KAFKA__SESSION_TIMEOUT_S", raising=False)
    start_services(Recording(lambda *_: None), settings, options, served)
    assert [env.get("TICKCAST_KAFKA__SESSION_TIMEOUT_S") for env in started] == [None, None]
    assert {env["TICKCAST_MLFLOW__START_CHOICE"] for env in started} == {
        str(tmp_path / "choice.json")
    }


def test_the_embedded_brokers_worker_keeps_its_table_in_memory(tmp_path: Path) -> None:
    """The embedded broker keeps nothing past its process, so a table on disk would outlive
    its changelog: the next `up`'s worker would drop it with a warning. A configured broker
    keeps the table store the settings name."""
    started: list[dict[str, str]] = []

    class Recording(Children):
        def start(self, name: str, args: list[str], env: dict[str, str]):  # type: ignore[override]
            started.append(env)

    children = Children(lambda *_: None)
    configured = Settings(data={"dir": tmp_path}, kafka={"bootstrap_servers": ""})
    assert configured.kafka.table_store == "rocksdb"
    try:
        embedded = start_bus(configured, children)
        assert embedded.kafka.bootstrap_servers
        assert [name for name, _ in children.processes] == ["broker"]
    finally:
        children.stop(timeout_s=5)
    served = Served("champion", tmp_path / "choice.json", "token")
    options = UpOptions(source="synthetic", tickers=["AAA"])
    start_services(Recording(lambda *_: None), embedded, options, served)
    start_services(
        Recording(lambda *_: None),
        configured.with_kafka(bootstrap_servers="127.0.0.1:1"),
        options,
        served,
    )
    assert [env["TICKCAST_KAFKA__TABLE_STORE"] for env in started] == [
        "memory",
        "memory",
        "rocksdb",
        "rocksdb",
    ]
