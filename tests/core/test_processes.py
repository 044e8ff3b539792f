"""Child processes stop one way: SIGTERM, a grace period, SIGKILL; signals become Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from core.processes import interrupt_on_signals, stop

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
)


def test_stop_terminates_a_child_that_listens() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop(child, timeout_s=10)
    assert child.returncode == -signal.SIGTERM


def test_stop_kills_a_child_that_ignores_sigterm() -> None:
    child = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM])
    time.sleep(0.5)  # let it install its handler
    stop(child, timeout_s=0.5)
    assert child.returncode == -signal.SIGKILL


def test_stop_accepts_nothing_and_the_already_stopped() -> None:
    stop(None)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stop(child)
    assert child.returncode == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_raise_keyboard_interrupt_inside_only(signum) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), interrupt_on_signals():
        os.kill(os.getpid(), signum)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == before
