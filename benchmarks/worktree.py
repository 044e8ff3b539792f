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
import sys
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
    if not commit:
        yield None, "skipped (no reference commit given)"
        return
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


def run_old_benchmark(
    commit: str, args: list[str], timeout_s: float
) -> tuple[subprocess.CompletedProcess | None, str]:
    """`python ARGS` run in a temporary worktree of `commit` with this venv, its output kept;
    (None, why) when there is no commit to run, no worktree, or no end in time.
    """
    with old_commit_worktree(commit) as (tree, why):
        if tree is None:
            return None, why
        try:
            run = subprocess.run(
                [sys.executable, *args],
                cwd=tree,
                env=old_code_env(tree),
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            return None, f"its benchmark ran past {timeout_s:.0f} s"
    return run, ""


def last_line(run: subprocess.CompletedProcess) -> list[str]:
    """What an old benchmark said last, for the line saying why it could not be read."""
    return (run.stderr.strip() or run.stdout.strip()).splitlines()[-1:]
