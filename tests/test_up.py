"""`tickcast up` as a user runs it: which model it serves for the prices it replays, what its
screen shows (and leaves out), and the API port as a choice that fails fast when taken."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.config import Settings
from model.registry import TRAINED_ON_TAGS, connect
from tests.utils.factories import make_settings
from tests.utils.waiting import eventually
from tickcast.cli import app

ROOT = Path(__file__).resolve().parents[1]
START = "2023-07-03"  # a short history: ~370 closes to train on and replay
FORECAST = re.compile(r"^\d{4}-\d{2}-\d{2} CMIG4\.SA +close [\d.]+ -> ", re.M)
SUMMARY = re.compile(r"replayed (\d+) closes, (\d+) forecasts, (\d+) alerts in [\d.]+ s")
LIBRARY_LINES = (
    "GPU available",
    "TPU available",
    "HPU available",
    "💡",
    "LOCAL_RANK",
    "Successfully registered model",
    "Created version",
    "Warning",
    "\x1b[",  # terminal codes (Faust's spinner showed the cursor with one)
)
MAX_LINES_BEFORE_FIRST_FORECAST = 25


def forced_synthetic_champion(root: Path) -> Settings:
    """A store whose only model was trained on synthetic prices and forced to champion: what
    a first offline `make up` left behind before models knew what they were trained on."""
    from model.training import train
    from producers.sources import load_prices

    settings = make_settings(root)
    data = load_prices("synthetic", ["CMIG4.SA"], settings.data, date(2023, 1, 2))
    result = train(data, settings, promote=True, progress=False)
    assert result.model_version == "1" and result.promoted
    return settings


@pytest.fixture(scope="module")
def synthetic_champion(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Shared by the tests below, in order: the first trains v2 for CMIG4's csv prices."""
    return forced_synthetic_champion(tmp_path_factory.mktemp("store"))


def up_env(settings: Settings) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TICKCAST_") and k not in ("KAFKA_BOOTSTRAP_SERVERS",)
    }
    return {
        **env,
        "TICKCAST_DATA__DIR": str(settings.data.dir),
        "TICKCAST_MLFLOW__TRACKING_URI": settings.mlflow.tracking_uri,
        "TICKCAST_KAFKA__METRICS_PORT": "0",
        "TICKCAST_MODEL__MAX_EPOCHS": "1",
        "TICKCAST_MODEL__HIDDEN_SIZE": "8",
    }


def run_up(
    args: list[str], env: dict[str, str], log: Path, until: re.Pattern, timeout_s: float = 300
) -> str:
    """`python -m tickcast up ARGS` until `until` shows in its output, then Ctrl-C; returns
    everything it printed. Killed with its children if a test leaves it running."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tickcast", "up", "--api-port", "0", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not until.search(log.read_text()):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        os.kill(process.pid, signal.SIGINT)  # what Ctrl-C does
        assert process.wait(60) == 0, log.read_text()[-3000:]
        return log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def csv_args(shared_data: Path) -> list[str]:
    return ["--source", f"csv:{shared_data}", "--tickers", "CMIG4.SA", "--start", START]


def csv_closes(shared_data: Path, start: str) -> int:
    dates = [line.split(",")[0] for line in (shared_data / "CMIG4.SA.csv").read_text().split()]
    return sum(1 for day in dates[1:] if day >= start)


@pytest.mark.broker
def test_up_retrains_a_synthetic_champion_for_real_prices_and_says_so(
    synthetic_champion: Settings, shared_data: Path, tmp_path: Path
) -> None:
    settings = synthetic_champion
    text = run_up(
        csv_args(shared_data),
        up_env(settings),
        tmp_path / "up.log",
        until=SUMMARY,
    )
    # One line says why it trains, naming what the old model saw and what these prices are.
    [why] = [line for line in text.splitlines() if "does not fit" in line]
    assert why.startswith("champion v1 does not fit: it was trained on synthetic (invented)")
    assert why.endswith("these prices are csv: training one on CMIG4.SA (csv prices)")
    # The model it trained records what it saw; the synthetic champion is not replaced.
    client = connect(settings.mlflow)
    name = settings.mlflow.model_name
    tags = client.get_model_version(name, "2").tags
    assert tags[TRAINED_ON_TAGS["source_kind"]] == "csv"
    assert tags[TRAINED_ON_TAGS["tickers"]] == "CMIG4.SA"
    assert tags[TRAINED_ON_TAGS["start"]] >= START
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    # ...and that one serves: every forecast comes from v2, none is marked synthetic.
    forecasts = FORECAST.findall(text)
    assert forecasts and "model      serving v2, trained now" in text
    lines = [line for line in text.splitlines() if FORECAST.match(line)]
    assert all(re.search(r" v2( DRIFT)?$", line) for line in lines), lines[:3]
    assert "[synthetic]" not in text and "SYNTHETIC" not in text


@pytest.mark.broker
def test_up_screen_has_the_export_line_the_summary_and_no_library_lines(
    synthetic_champion: Settings, shared_data: Path, tmp_path: Path
) -> None:
    """A second run on the same prices: the model the test above trained never took the
    champion alias (no promotion across source kinds), yet it serves again, untrained."""
    text = run_up(
        csv_args(shared_data),
        up_env(synthetic_champion),
        tmp_path / "up.log",
        until=SUMMARY,
    )
    if "model      serving v2, trained now" not in text:  # run alone: nothing trained before
        assert "training one" not in text
        assert "model      serving v2, trained on csv prices of CMIG4.SA" in text
    assert re.search(r"^  export KAFKA_BOOTSTRAP_SERVERS=127\.0\.0\.1:\d+$", text, re.M), text
    assert re.search(r"^  \S*tickcast tail forecasts$", text, re.M), text
    [(closes, forecasts, alerts)] = SUMMARY.findall(text)
    # Every published close was answered before the summary: a forecast for each one after
    # the window's first 59.
    assert int(closes) == csv_closes(shared_data, START)
    assert int(forecasts) == int(closes) - 59 == len(FORECAST.findall(text))
    assert int(alerts) == text.count(" drift ") + text.count(" performance (")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if FORECAST.match(line))
    assert first <= MAX_LINES_BEFORE_FIRST_FORECAST, "\n".join(lines[:first])
    assert not [sign for sign in LIBRARY_LINES if sign in text], text[:3000]
    days = [line.split()[0] for line in lines if FORECAST.match(line) or " drift " in line]
    assert days == sorted(days), "forecasts and alerts out of date order"


@pytest.mark.broker
def test_up_with_no_retrain_keeps_the_misfit_and_warns(shared_data: Path, tmp_path: Path) -> None:
    settings = forced_synthetic_champion(tmp_path / "store")  # no model fits csv prices
    client = connect(settings.mlflow)
    name = settings.mlflow.model_name
    versions = len(client.search_model_versions(f"name='{name}'"))
    warning = re.compile(r"^model +--no-retrain: serving champion v1 although .*$", re.M)
    text = run_up(
        [*csv_args(shared_data), "--no-retrain"],
        up_env(settings),
        tmp_path / "up.log",
        until=warning,
    )
    line = warning.search(text)
    assert line and "trained on synthetic (invented) prices" in line.group(0)
    assert "training one" not in text
    assert len(client.search_model_versions(f"name='{name}'")) == versions  # nothing trained


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["up", "api"])
@pytest.mark.parametrize("option", ["--api-port", "--port"])
def test_a_taken_api_port_fails_at_once_naming_the_port_and_the_option(
    command: str, option: str, busy_port: int, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tickcast", command, option, str(busy_port)],
        env={**os.environ, "TICKCAST_DATA__DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"error: port {busy_port} is taken on 127.0.0.1: pass --api-port with another port, "
        "or --api-port 0 to pick a free one"
    )
    assert not (tmp_path / "broker.log").exists()  # nothing was started


def test_help_shows_defaults_and_no_type_beside_flags() -> None:
    result = CliRunner().invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "<bool>" not in result.output
    assert re.search(r"--api-port.*\[default: \(8000\)\]", result.output), result.output
    assert re.search(r"--rate.*\[default: \(flat out\)\]", result.output), result.output
    assert "--no-retrain" in result.output


def test_a_child_that_exits_stops_up_with_one_line_and_its_output_relayed() -> None:
    from tickcast.launcher import ChildExited, Children

    lines: list[tuple[str, str]] = []
    children = Children(lambda name, line: lines.append((name, line)))
    script = "import sys; print('\\x1b[?25hcannot bind'); sys.exit(3)"
    process = children.start("API", [sys.executable, "-c", script], dict(os.environ))
    process.wait(30)
    with pytest.raises(ChildExited, match=r"^the API stopped \(exit code 3\)"):
        children.check()
    children.stop()
    eventually(lambda: lines, 10, "the child's line")
    assert lines == [("API", "\x1b[?25hcannot bind\n")]


def test_child_lines_lose_their_terminal_codes() -> None:
    from tickcast.screen import clean

    assert clean("\b\x1b[?25h") == ""
    assert clean("\x1b[31mWARNING\x1b[0m metrics port\r\n") == "WARNING metrics port"
