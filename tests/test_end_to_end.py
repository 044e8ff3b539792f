"""End to end through `tickcast up` (what `make up` runs): broker, worker and API together.

Forecasts appear on screen and through the API, the dashboard shows them in Chromium, and
Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streams.broker import free_port

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


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browse(url: str, screenshot: Path) -> str:
    """Headless Chromium: save a screenshot and return the DOM after the page's scripts ran."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={screenshot.parent / 'chromium-profile'}",
        "--window-size=1200,900",
        "--timeout=5000",  # the SSE stream never ends, so stop after 5 s
    ]
    subprocess.run(
        [chromium(), *flags, f"--screenshot={screenshot}", url],
        capture_output=True,
        timeout=90,
        check=False,
    )
    dom = subprocess.run(
        [chromium(), *flags, "--dump-dom", url],
        capture_output=True,
        timeout=90,
        check=False,
        text=True,
    )
    return dom.stdout


def test_up_shows_forecasts_and_ctrl_c_stops_every_child(tmp_path: Path) -> None:
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
            assert len(children) >= 3  # the broker, the worker and the API
            assert "API token for this run (shown once)" in text
            check_api_and_dashboard(f"http://127.0.0.1:{api_port}")
            os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C does
            assert up.wait(60) == 0
        finally:
            if up.poll() is None:
                up.kill()
    assert "all stopped" in log.read_text()
    time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "orphaned child processes"


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


def check_api_and_dashboard(base: str) -> None:
    forecast = get_json(f"{base}/forecasts/AAA/latest")
    assert forecast["ticker"] == "AAA" and forecast["predicted_close"] > 0
    sample = get_json(f"{base}/sample-data?ticker=AAA")
    assert len(sample["last_prices"]) == 60
    if chromium() is None:
        pytest.skip(
            "Debian's chromium is not installed (make test installs it where apt-get works)"
        )
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    dom = browse(f"{base}/dashboard", shot)
    assert 'id="card-AAA"' in dom, dom[-1500:]
    assert shot.exists() and shot.stat().st_size > 10_000
