"""The MLflow child of `backtest` and `evaluate` starts before the CLI's own imports, and is
the one child the command uses."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from model import tracking_start
from tests.probes import run_probe
from tests.utils.factories import make_settings

# Runs `tickcast ARGS` in this interpreter; prints each child start (whether typer, the CLI's
# first heavy import, had loaded by then), the exit code, and whether a child was left over.
PROBE = """
import json, runpy, sys
from model import tracking_start
starts = []
spawn = tracking_start.spawn
def counted():
    starts.append("typer" in sys.modules)
    return spawn()
tracking_start.spawn = counted
sys.argv = ["tickcast", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("tickcast", run_name="__main__")
except SystemExit as exc:
    code = exc.code or 0
print(json.dumps({"starts": starts, "code": code, "left": tracking_start._early is not None}))
"""


@pytest.mark.parametrize(
    ("argv", "tracked"),
    [
        (["/venv/bin/tickcast", "backtest", "--start", "2024-01-02"], True),
        (["/repo/tickcast/__main__.py", "evaluate"], True),
        (["tickcast", "backtest", "--help"], False),
        (["tickcast", "train"], False),
        (["tickcast"], False),
        (["/venv/bin/pytest", "backtest"], False),
        (["/repo/other/__main__.py", "backtest"], False),
    ],
)
def test_only_backtest_and_evaluate_start_the_child_early(argv: list[str], tracked: bool) -> None:
    assert tracking_start.is_tracked_command(argv) is tracked


def test_the_command_adopts_the_child_it_started_before_its_imports(tmp_path) -> None:
    """One child, started before typer loads, answers the command: here that the store has
    no version 7 (the error comes from the registry read in the child)."""
    settings = make_settings(tmp_path)
    env = {
        "TICKCAST_DATA__DIR": str(settings.data.dir),
        "TICKCAST_MLFLOW__TRACKING_URI": settings.mlflow.tracking_uri,
    }
    args = ("--source", "synthetic", "--tickers", "AAA", "--model", "7")
    span = ("--start", "2020-03-02", "--end", "2020-04-30")
    evaluated = run_probe(PROBE, "evaluate", *args, *span, env=env)
    assert evaluated == {"starts": [False], "code": 1, "left": False}
    backtested = run_probe(PROBE, "backtest", "--engine", "local", *args, *span, env=env)
    assert backtested == {"starts": [False], "code": 1, "left": False}
    # Help starts no child.
    assert run_probe(PROBE, "backtest", "--help", env=env) == {
        "starts": [],
        "code": 0,
        "left": False,
    }


def test_a_child_no_command_adopted_ends_when_its_stdin_closes() -> None:
    """A command that fails before it adopts its child (bad options) leaves no process: the
    child reads the end of its stdin once MLflow is imported, and exits."""
    child = tracking_start.spawn()
    assert child.stdin is not None
    child.stdin.close()
    try:
        assert child.wait(timeout=120) == 0
    finally:
        if child.poll() is None:
            child.kill()
        if child.stdout is not None:
            child.stdout.close()


CTRL_C_AT_THE_COMMAND = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal
from model import tracking_start
child = tracking_start.spawn()
print(child.pid, flush=True)
try:
    time.sleep(120)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_at_the_command_ends_its_mlflow_child_without_a_traceback() -> None:
    """The terminal sends Ctrl-C to the command's process group; the command's end closes
    the child's stdin, and the child ends on its own, quietly."""
    import os
    import signal

    command = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_AT_THE_COMMAND],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=tracking_start.child_env(),
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    try:
        assert command.stdout is not None
        assert int(command.stdout.readline()) > 0  # the child has started
        time.sleep(0.5)  # it is importing MLflow
        os.killpg(command.pid, signal.SIGINT)
        _, errors = command.communicate(timeout=120)  # until the child, which shares stderr, ends
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 130
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors


def test_a_child_that_died_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE)
    dead.wait()
    monkeypatch.setattr(tracking_start, "_early", dead)
    fresh = object()
    monkeypatch.setattr(tracking_start, "spawn", lambda: fresh)
    assert tracking_start.adopt() is fresh
    assert tracking_start._early is None
    dead.stdin.close()


def test_the_collector_is_paused_for_the_imports_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    monkeypatch.setattr(tracking_start, "spawn", lambda: object())
    monkeypatch.setattr(tracking_start, "_early", None)
    assert gc.isenabled()
    try:
        tracking_start.start_early(["tickcast", "train"])  # not a tracked command
        assert gc.isenabled()
        tracking_start.start_early(["tickcast", "backtest", "--engine", "local"])
        assert not gc.isenabled()
        tracking_start.imports_done()
        assert gc.isenabled()
        tracking_start.imports_done()  # once only: a collector paused by others stays so
        assert gc.isenabled()
    finally:
        gc.enable()
        monkeypatch.setattr(tracking_start, "_early", None)
