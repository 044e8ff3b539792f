"""The first thing `tickcast backtest` and `tickcast evaluate` do: start their MLflow child
(`python -m model.tracking`), before the CLI's own imports.

That child imports MLflow and opens the store, about 2 s of one core, and a one-ticker
backtest waits for it: started here, it gains the CLI's start-up (typer, rich, pydantic,
settings). Standard library only, so that importing this module costs nothing.
`model.tracking.Tracking` adopts the child (`adopt`); a command that ends before it does
closes the child's stdin, and the child ends once it has read it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core import collector

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # the child runs this very code
COMMANDS = frozenset({"backtest", "evaluate"})  # the commands whose first step is the child

_early: subprocess.Popen | None = None
_collector_paused = False


def child_env() -> dict[str, str]:
    """The environment of a `python -m` child that runs this very code, whatever the cwd."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), path]))}


def spawn() -> subprocess.Popen:
    """`python -m model.tracking` running this code, whatever the cwd; pipes on both ends.

    In a session of its own: a Ctrl-C at the terminal reaches the command, whose end closes
    the child's stdin, which ends the child; in the command's group, the child also took the
    Ctrl-C and printed a traceback of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "model.tracking"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,
    )


def is_tracked_command(argv: list[str]) -> bool:
    """Whether this command line runs a command that starts the MLflow child: `tickcast`
    (or `python -m tickcast`) then one of COMMANDS, without --help."""
    program = Path(argv[0]) if argv else Path()
    ours = program.name == "tickcast" or program.parts[-2:] == ("tickcast", "__main__.py")
    return ours and len(argv) > 1 and argv[1] in COMMANDS and "--help" not in argv[2:]


def start_early(argv: list[str] | None = None) -> None:
    """Start the child now when this command line will need it (see `is_tracked_command`).

    Until `imports_done`, the command also runs without the cyclic garbage collector: its
    start is imports (pandas, SciPy, ONNX Runtime), whose objects live to the end anyway, and
    the collector's passes over them cost about a tenth of their time."""
    global _early, _collector_paused
    if _early is None and is_tracked_command(sys.argv if argv is None else argv):
        _early = spawn()
        _collector_paused = collector.pause()


def imports_done() -> None:
    """The command's own work starts: the collector runs again, if `start_early` paused it."""
    global _collector_paused
    paused, _collector_paused = _collector_paused, False
    collector.resume(paused)


def adopt() -> subprocess.Popen:
    """The child started early, if it is still there (once); else one started now."""
    global _early
    child, _early = _early, None
    if child is not None and child.poll() is None:
        return child
    return spawn()
