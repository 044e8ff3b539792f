"""`up`'s launcher pieces that need no broker: retiring a child to start it again, and the
session timeout its workers get on the embedded broker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.config import Settings
from tickcast.launcher import SESSION_TIMEOUT_ENV, Children, Served, UpOptions, start_services

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_retired_child_is_stopped_and_forgotten_and_the_others_run_on() -> None:
    children = Children(lambda _name, _line: None)
    worker = children.start("worker", SLEEPER, dict(os.environ))
    api = children.start("API", SLEEPER, dict(os.environ))
    try:
        children.retire("worker", timeout_s=5)
        assert worker.poll() is not None
        assert [name for name, _ in children.processes] == ["API"]
        assert api.poll() is None
        children.check()  # a retired child that exited is no reason to stop `up`
    finally:
        children.stop(timeout_s=5)


def test_workers_on_the_embedded_broker_get_its_short_session_timeout(
    tmp_path: Path, monkeypatch
) -> None:
    """Tansu holds a join for half the session timeout: `up`'s own broker gets the short one,
    a configured Kafka keeps the user's."""
    started: list[dict[str, str]] = []

    class Recording(Children):
        def start(self, name: str, args: list[str], env: dict[str, str]):  # type: ignore[override]
            started.append(env)

    settings = Settings(data={"dir": tmp_path}).with_kafka(bootstrap_servers="127.0.0.1:1")
    served = Served("champion", tmp_path / "choice.json", "token")
    options = UpOptions(source="synthetic", tickers=["AAA"])
    monkeypatch.delenv(SESSION_TIMEOUT_ENV, raising=False)
    start_services(Recording(lambda *_: None), settings, options, served, embedded=True)
    start_services(Recording(lambda *_: None), settings, options, served, embedded=False)
    short = str(settings.kafka.embedded_session_timeout_s)
    assert [env.get(SESSION_TIMEOUT_ENV) for env in started] == [short, short, None, None]
    assert {env["TICKCAST_MLFLOW__START_CHOICE"] for env in started} == {
        str(tmp_path / "choice.json")
    }
