"""An older commit of this project, checked out beside it for a benchmark to measure in the
same run as the current code, then removed (even when the benchmark fails).

The old code runs with this checkout's venv: `python -m tickcast ...` with cwd and
PYTHONPATH set to the worktree (see `old_code_env`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The commit issue 15's figures are set against.
BASELINE_COMMIT = "d5c4046"


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


@contextlib.contextmanager
def old_commit_worktree(commit: str = BASELINE_COMMIT) -> Iterator[tuple[Path | None, str]]:
    """(folder of `commit`'s files, "") inside; (None, why) when git or the commit is missing.

    The worktree lives in a temporary folder and is removed and pruned on the way out."""
    if shutil.which("git") is None:
        yield None, "git is not installed"
        return
    if git("rev-parse", "--git-dir").returncode != 0:
        yield None, f"{ROOT} is not a git checkout"
        return
    if git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").returncode != 0:
        yield None, f"commit {commit} is not in this clone"
        return
    # A benchmark stopped with SIGTERM still removes the worktree: the signal unwinds.
    signal.signal(signal.SIGTERM, _exit_on_term)
    with tempfile.TemporaryDirectory(prefix="tickcast-old-") as tmp:
        tree = Path(tmp) / "tree"
        added = git("worktree", "add", "--detach", str(tree), commit)
        if added.returncode != 0:
            yield None, f"git worktree add failed: {added.stderr.strip()[-160:]}"
            return
        try:
            yield tree, ""
        finally:
            git("worktree", "remove", "--force", str(tree))
            git("worktree", "prune")


def old_code_env(tree: Path, **extra: str) -> dict[str, str]:
    """The environment to run `tree`'s code in: its folder first on the path, and none of
    the shell's tickcast or Kafka settings (each benchmark passes its own)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "KAFKA_BOOTSTRAP_SERVERS" and not k.startswith("TICKCAST_")
    }
    return {**env, "PYTHONPATH": str(tree), **extra}
