"""The real `tickcast` command against a broker that is not there: one line, never a hang."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tickcast.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 40.0  # what a user waits at most before the command gives up
MAX_LINES = 5

runner = CliRunner()


def closed_address() -> str:
    """A port the OS just handed out, with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def silent_address() -> Iterator[str]:
    """A port that takes connections (the kernel's backlog) but never answers: a hung broker."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def tickcast(*args: str, bootstrap: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """`python -m tickcast ARGS` as a user runs it; fails the test past `DEADLINE_S`."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tickcast", *args],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, **env},
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    return done, time.monotonic() - started


COMMANDS = {
    "produce": ["produce", "--source", "synthetic", "--tickers", "AAA"],
    "worker": ["worker"],
    "tail": ["tail", "forecasts"],
    "up": ["up", "--source", "synthetic", "--tickers", "AAA", "--api-port", "0"],
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_closed_port_is_one_line_naming_the_address(command: list[str]) -> None:
    address = closed_address()
    done, _seconds = tickcast(*command, bootstrap=address)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output
    assert len(output.splitlines()) <= MAX_LINES, output
    [line] = [row for row in output.splitlines() if row.startswith("error:")]
    assert f"cannot reach Kafka at {address} (connection refused)" in line
    assert "is the broker running? Set KAFKA_BOOTSTRAP_SERVERS" in line


@pytest.mark.parametrize(
    "command", [COMMANDS["tail"], COMMANDS["produce"]], ids=["tail", "produce"]
)
def test_verbose_shows_the_traceback_as_well(command: list[str]) -> None:
    address = closed_address()
    done, _seconds = tickcast(*command, "--verbose", bootstrap=address)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "ConnectionRefusedError" in done.stderr  # the cause, chained
    assert (
        done.stderr.rstrip().splitlines()[-1].startswith(f"error: cannot reach Kafka at {address}")
    )


def test_a_broker_that_never_answers_gives_up_after_the_connect_timeout(
    silent_address: str,
) -> None:
    done, seconds = tickcast(
        *COMMANDS["tail"], bootstrap=silent_address, TICKCAST_KAFKA__CONNECT_TIMEOUT_S="1.5"
    )
    assert done.returncode == 1
    assert f"cannot reach Kafka at {silent_address} (no answer within 1.5 s)" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= MAX_LINES
    assert 1.5 <= seconds < DEADLINE_S


@pytest.mark.parametrize("value", ["lots", "-1", "70000", "9108.5"])
def test_a_bad_metrics_port_is_one_line_saying_what_is_allowed(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKCAST_KAFKA__METRICS_PORT", value)
    result = runner.invoke(app, ["tail", "forecasts"])
    assert result.exit_code == 1
    assert "invalid TICKCAST_ settings: kafka.metrics_port" in result.output
    assert "auto to pick a free one, or 0 to turn metrics off" in result.output
    assert "Traceback" not in result.output
