"""A new user's first run, timed: from `make up` in a fresh copy of the project to the first
forecast on screen, and what the screen showed before it (issues 14 and 15).

Run: `make bench-first-run`, or `python benchmarks/first_run.py [--skip-install] [--worktree]
[--reference d5c4046]`.

Each copy lives in a temporary folder beside this checkout, so that `../shared/data` is there
as it is for a clone, and is deleted afterwards. Runs, in order:
- with the install: a fresh venv that `make up` fills (torch, then tickcast): minutes;
- without it (`--skip-install`): `make up VENV=<this checkout's .venv>`, with make told that
  the venv is installed, and PYTHONPATH on the copy, so the copy's code runs;
- with no model in the store (`up` trains one) and then with the one that run left;
- the same two runs, in the same run of this benchmark, by commit d5c4046 (issue 15's
  reference): a clone of this checkout at that commit, beside it (`--reference ''` skips it).
  The runs alternate (its, ours), so both meet the same machine load. A reference run stops
  at its first forecast: d5c4046 prints no summary line, so it used to wait out `--timeout`.

Figures: seconds from `make up` to the first forecast line and to the summary line (every
published close answered), and the lines printed by `up` before the first forecast with the
library lines among them. Goals: at most 25 lines and no library line; first forecast within
15 s when `up` trains and 6 s with a model already there (issue 15), each beside the reference
commit's figure in this run and issue 15's 22.7 s (after install, training included).
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import Report
from worktree import BASELINE_COMMIT

from streams.broker import free_port

ROOT = Path(__file__).resolve().parents[1]
FORECAST = re.compile(r"^\d{4}-\d{2}-\d{2} \S+ +close [\d.]+ -> \d{4}-\d{2}-\d{2} forecast")
SUMMARY = re.compile(r"^replayed \d+ closes, \d+ forecasts, \d+ alerts in [\d.]+ s")
UP_COMMAND = re.compile(r"tickcast up\b")  # make's echo of the recipe: `up` prints after it
LIBRARY_SIGNS = (
    "GPU available",
    "TPU available",
    "LOCAL_RANK",
    "💡",
    "Successfully registered model",
    "Created version",
    "Warning",
    "\x1b[",
)
# The Makefile's stamps of an installed venv (past and present names): never remade here.
INSTALL_STAMPS = (".installed", ".runtime", ".dev")
MAX_LINES = 25
REFERENCE_S = 22.7  # issues 14 and 15: after install, training included
GOAL_TRAINS_S, GOAL_MODEL_S = 15.0, 6.0  # issue 15: first forecast, training first / not
INSTALL_REFERENCE_S = 110.0  # issue 14: about 93 s of it installation
STOP_TIMEOUT_S = 60.0


@dataclass
class Run:
    """What one `make up` showed, with the seconds since it was typed."""

    name: str
    reference: str
    goal_s: float | None = None
    copy: Path | None = None  # the project copy it runs in
    first_forecast_s: float | None = None
    summary_s: float | None = None
    lines_before: list[str] = field(default_factory=list)
    exit_note: str = ""

    @property
    def library_lines(self) -> list[str]:
        return [line for line in self.lines_before if any(s in line for s in LIBRARY_SIGNS)]


def copy_project(target: Path, worktree: bool, commit: str = "") -> None:
    """A fresh clone of the committed project (at `commit` if given), or (`worktree`) its files
    as they are now, uncommitted changes included, without what git ignores (.venv...)."""
    if commit or not worktree:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
        if commit:  # in the clone, never in this checkout
            subprocess.run(
                ["git", "-C", str(target), "checkout", "--quiet", "--detach", commit], check=True
            )
        return
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def make_command(skip_install: bool, source: str) -> tuple[list[str], dict[str, str]]:
    """`make up`, and the environment it runs in (no Kafka, MLflow or tickcast settings of the
    shell; a free API port and no metrics port, as other runs share this machine)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TICKCAST_")
        and k not in ("KAFKA_BOOTSTRAP_SERVERS", "MLFLOW_TRACKING_URI")
    }
    env |= {"TICKCAST_KAFKA__METRICS_PORT": "0", "TICKCAST_API__PORT": str(free_port())}
    command = ["make", "up"] + ([f"SOURCE={source}"] if source else [])
    if skip_install:
        venv = ROOT / ".venv"
        installed = [f"-o{venv / stamp}" for stamp in INSTALL_STAMPS]
        command += [*installed, f"VENV={venv}", f"PYTHON={venv / 'bin' / 'python'}"]
    return command, env


def run_up(run: Run, copy: Path, skip_install: bool, source: str, timeout_s: float) -> Run:
    """`make up` in `copy` until its summary line (or `timeout_s`), then Ctrl-C."""
    command, env = make_command(skip_install, source)
    if skip_install:
        env["PYTHONPATH"] = str(copy)  # the copy's packages before the checkout's install
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=copy,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    counting, pending = False, b""
    try:
        while time.monotonic() - started < timeout_s and process.poll() is None:
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            now = time.monotonic() - started
            for raw in lines:
                line = raw.decode(errors="replace")
                if not counting:
                    counting = bool(UP_COMMAND.search(line))
                elif run.first_forecast_s is None and FORECAST.match(line):
                    run.first_forecast_s = now
                elif run.first_forecast_s is None:
                    run.lines_before.append(line)
                if SUMMARY.match(line):
                    run.summary_s = now
            if run.summary_s is not None:
                break
            if run.goal_s is None and run.first_forecast_s is not None:
                break  # a reference run: d5c4046 prints no summary, so it waited out the timeout
        if process.poll() is not None:
            run.exit_note = f"make up exited with {process.returncode}"
    finally:
        stop(process)
    return run


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C to make and `up` (`up` stops its own children), then a kill if need be."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def report(runs: list[Run]) -> Report:
    table = Report("first run: `make up` on a fresh copy (issues 14 and 15)")
    for run in runs:
        judged = run.goal_s is not None  # the reference commit's runs are figures, not goals
        reached = run.first_forecast_s
        met = None if run.goal_s is None else reached is not None and reached <= run.goal_s
        table.add(f"{run.name}: to the first forecast", seconds(reached), run.reference, met)
        if judged:  # a reference run stops at its first forecast
            table.add(f"{run.name}: to every close answered", seconds(run.summary_s), "")
        lines = len(run.lines_before)
        table.add(
            f"{run.name}: lines before the first forecast",
            str(lines),
            f"<= {MAX_LINES}",
            lines <= MAX_LINES if judged else None,
        )
        library = run.library_lines
        table.add(
            f"{run.name}: library lines among them",
            str(len(library)) + (f" (e.g. {library[0][:60]!r})" if library else ""),
            "0",
            not library if judged else None,
        )
        if run.exit_note:
            table.add(f"{run.name}: note", run.exit_note, "")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-install", action="store_true", help="reuse this checkout's .venv")
    parser.add_argument(
        "--worktree",
        action="store_true",
        help="copy the working tree (uncommitted changes too) rather than clone the commit",
    )
    parser.add_argument(
        "--source", default="", help="make up SOURCE=... (default: none, as a new user)"
    )
    parser.add_argument(
        "--reference",
        default=BASELINE_COMMIT,
        help="the commit also timed in this run ('' skips it)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run at most")
    args = parser.parse_args()
    if not args.skip_install:
        print("with the install: a fresh venv gets torch and tickcast first; this takes minutes")
    copy = Path(tempfile.mkdtemp(prefix="first-run-", dir=ROOT.parent))
    old = Path(tempfile.mkdtemp(prefix="first-run-ref-", dir=ROOT.parent))
    issue = f"issue 15: {REFERENCE_S} s (after install, training included)"
    if not args.skip_install:
        issue += f"; issue 14: about {INSTALL_REFERENCE_S:.0f} s with the install"
    runs = [
        Run(
            "no install, no model yet (trains)"
            if args.skip_install
            else "with install, no model yet (trains)",
            f"goal <= {GOAL_TRAINS_S:g} s; {issue}",
            GOAL_TRAINS_S,
            copy,
        ),
        # the second run finds the venv and the model the first one left
        Run("no install, a model already there", f"goal <= {GOAL_MODEL_S:g} s", GOAL_MODEL_S, copy),
    ]
    try:
        copy_project(copy, args.worktree)
        if args.reference:
            copy_project(old, False, args.reference)
            runs = interleave(runs, old, args.reference)
        for run in runs:
            assert run.copy is not None
            print(f"running `make up` ({run.name}) in {run.copy}...", flush=True)
            run_up(run, run.copy, args.skip_install, args.source, args.timeout)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    with_reference(runs, args.reference)
    report(runs).print()
    worst = max(runs, key=lambda run: len(run.lines_before))
    print(f"\nlines before the first forecast ({worst.name}):")
    for line in worst.lines_before:
        print(f"  | {line}")


def interleave(runs: list[Run], old: Path, commit: str) -> list[Run]:
    """Each run of ours after the same run by `commit`, in its own copy."""
    paired = []
    for run in runs:
        paired.append(Run(f"{commit}: {run.name}", "reference, same run", None, old))
        paired.append(run)
    return paired


def with_reference(runs: list[Run], commit: str) -> None:
    """Each run of ours says the reference commit's figure beside its goal."""
    if not commit:
        return
    figures = {run.name.removeprefix(f"{commit}: "): run for run in runs if run.goal_s is None}
    for run in runs:
        theirs = figures.get(run.name) if run.goal_s is not None else None
        if theirs is not None:
            run.reference += f"; {commit} in this run: {seconds(theirs.first_forecast_s)}"


if __name__ == "__main__":
    sys.exit(main())
