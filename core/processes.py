"""Child processes and signals, handled one way everywhere.

- `die_with_parent`: a child gets SIGTERM when its parent dies, so nothing is orphaned.
- `forked_helper`: the signals of a forked child that works for its parent.
- `stop`: SIGTERM, a grace period, then SIGKILL.
- `interrupt_on_signals`: Ctrl-C and SIGTERM (docker stop, systemd) both raise
  KeyboardInterrupt, so a long-running command has one clean way out.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import subprocess
from collections.abc import Iterator
from types import FrameType

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux, as a Popen preexec_fn: SIGTERM this child when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def forked_helper() -> None:
    """In a forked child doing part of its parent's work: Ctrl-C is the parent's to handle
    (it stops its helpers itself), SIGTERM ends the child at once without a traceback, and
    so does its parent's death."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()


def stop(process: subprocess.Popen | None, timeout_s: float = 15.0, name: str = "") -> None:
    """SIGTERM `process`, wait up to `timeout_s`, then SIGKILL it."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        logger.warning("%s did not stop in %.0fs; killing it", name or process.args, timeout_s)
        process.kill()
        process.wait()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Inside: SIGINT and SIGTERM raise KeyboardInterrupt; the old handlers come back after."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
