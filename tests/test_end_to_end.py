"""End to end through `tickcast up` (what `make up` runs): broker, worker and API together.

Forecasts appear on screen and through the API, the dashboard shows them in Chromium, and
Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.broker import free_port
from tests.utils.browser import browse, chromium

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


ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@dataclass
class Up:
    process: subprocess.Popen
    log: Path
    base: str
    children: list[int]

    def text(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`tickcast up` in its own session, once forecasts show; killed if a test left it running."""
    tmp_path = tmp_path_factory.mktemp("up")
    api_port = free_port()
    env = {
        **os.environ,
        "TICKCAST_DATA__DIR": str(tmp_path),
        "TICKCAST_KAFKA__METRICS_PORT": "0",
        "TICKCAST_MODEL__MAX_EPOCHS": "2",
        "TICKCAST_MODEL__HIDDEN_SIZE": "8",
        "TICKCAST_API__PORT": str(api_port),
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
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
            assert process.poll() is None, log.read_text()
            time.sleep(0.5)
        yield Up(process, log, f"http://127.0.0.1:{api_port}", children_of(process.pid))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_up_shows_forecasts_on_screen_and_through_the_api(up: Up) -> None:
    text = up.text()
    assert "broker     embedded (Tansu, memory only) on 127.0.0.1:" in text
    assert "no synthetic model yet: training one on AAA (synthetic prices)" in text
    assert "SYNTHETIC prices: invented, not a market" in text
    assert FORECAST_LINE.search(text), text[-2000:]
    assert re.search(r"^\d{4}-\d{2}-\d{2} AAA .* \[synthetic\]$", text, re.M), text[-2000:]
    assert "this run's API token" in text
    assert len(up.children) >= 3  # the broker, the worker and the API
    forecast = get_json(f"{up.base}/forecasts/AAA/latest")
    assert forecast["ticker"] == "AAA" and forecast["predicted_close"] > 0
    sample = get_json(f"{up.base}/sample-data?ticker=AAA")
    assert len(sample["last_prices"]) == 60


def test_the_dashboard_renders_in_chromium(up: Up) -> None:
    if chromium() is None:
        pytest.skip(
            "Debian's chromium is not installed (make test installs it where apt-get works); "
            "only this screenshot needs it"
        )
    get_json(f"{up.base}/forecasts/AAA/latest")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    dom = browse(f"{up.base}/dashboard", shot, "--timeout=5000")  # the SSE stream never ends
    assert 'id="card-AAA"' in dom, dom[-1500:]
    assert shot.exists() and shot.stat().st_size > 10_000


def test_ctrl_c_stops_every_child(up: Up) -> None:
    """Runs last in this module: it stops the run the tests above looked at."""
    assert up.process.poll() is None, up.text()[-2000:]
    os.killpg(up.process.pid, signal.SIGINT)  # what Ctrl-C does
    assert up.process.wait(60) == 0
    assert "all stopped" in up.text()
    time.sleep(0.5)
    assert up.children and not [pid for pid in up.children if alive(pid)], "orphaned children"


def get_json(url: str, timeout_s: float = 60.0) -> dict:
    """GET `url` until it answers 200 (the API starts and its consumer catches up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
