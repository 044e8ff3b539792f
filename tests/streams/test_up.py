"""`tickcast up` (what `make up` runs): forecasts on screen, then Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.broker

FORECAST_LINE = re.compile(r"\d{4}-\d{2}-\d{2} AAA +close [\d.]+ -> \d{4}-\d{2}-\d{2} forecast")


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_shows_forecasts_and_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TICKCAST_DATA__DIR": str(tmp_path),
        "TICKCAST_KAFKA__METRICS_PORT": "0",
        "TICKCAST_MODEL__MAX_EPOCHS": "2",
        "TICKCAST_MODEL__HIDDEN_SIZE": "8",
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "tickcast", "up", "--source", "synthetic", "--tickers", "AAA"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not FORECAST_LINE.search(log.read_text()) and time.monotonic() < deadline:
                assert up.poll() is None, log.read_text()
                time.sleep(0.5)
            text = log.read_text()
            assert "embedded broker (Tansu)" in text and "no champion yet: training one" in text
            assert FORECAST_LINE.search(text), text[-2000:]
            children = children_of(up.pid)
            assert len(children) >= 2  # the broker and the worker
            os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C does
            assert up.wait(60) == 0
        finally:
            if up.poll() is None:
                up.kill()
    assert "all stopped" in log.read_text()
    time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "orphaned child processes"
