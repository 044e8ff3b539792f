"""Wall time of whole commands (issue 15, "Commands start fast" and "Backtests come quickly"),
beside the same commands at commit d5c4046, measured in the same run.

Run: `.venv/bin/python benchmarks/commands.py [--runs 3] [--commit d5c4046]`.
Each side (this checkout, and the commit in a temporary `git worktree` run with this venv)
gets its own temporary store with a champion trained on CMIG4.SA (a few epochs: only its
shape matters). Then, each command timed as a whole process (`python -m tickcast ...`, start-up
included), the two sides taking turns run by run, the median of `--runs` runs:
- `tickcast --help`;
- `tickcast evaluate`, CMIG4.SA over 2024;
- `tickcast backtest --engine local`, CMIG4.SA over 2024 (one year);
- `tickcast backtest --engine stream`, the same (embedded broker start included).
Peak RSS of each command's own process comes from GNU time (children such as the stream
engine's worker or the MLflow child are not in it).
The first run of each side fills what later runs on the same prices and store read back (the
B3 sessions and the GARCH fits in the data dir's cache, the version the alias named last), so
with 3 runs the median is a run that reads them; the first run's figure is printed beside it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import Report, arguments  # benchmarks/ is on sys.path when run as a script
from worktree import BASELINE_COMMIT, ROOT, old_code_env, old_commit_worktree

TICKER = "CMIG4.SA"
YEAR = ("2024-01-02", "2024-12-30")
TRAIN_EPOCHS = "3"
TIMEOUT_S = 600
TIME = "/usr/bin/time" if Path("/usr/bin/time").is_file() else None  # GNU time, for peak RSS


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]
    goal_s: float | None  # the issue's goal, where it set one
    issue_s: float | None  # the issue's figure, where it gave one


def commands(data: Path) -> list[Command]:
    source = ("--source", f"csv:{data}", "--tickers", TICKER)
    span = ("--start", YEAR[0], "--end", YEAR[1])
    return [
        Command("tickcast --help", ("--help",), 0.5, 0.86),
        Command(
            "tickcast evaluate, one ticker, one year", ("evaluate", *source, *span), None, None
        ),
        Command(
            "tickcast backtest --engine local, one ticker, one year",
            ("backtest", "--engine", "local", *source, *span),
            3.0,
            8.5,
        ),
        Command(
            "tickcast backtest --engine stream, one ticker, one year",
            ("backtest", "--engine", "stream", *source, *span),
            10.0,
            22.7,
        ),
    ]


@dataclass
class Side:
    """One version of the code: where it runs from, and its own store."""

    label: str
    cwd: Path
    env: dict[str, str]

    def run(self, args: tuple[str, ...]) -> tuple[float, float, int]:
        """(wall seconds, peak RSS MB, exit code) of `python -m tickcast ARGS`.

        The peak RSS is GNU time's (%M) when /usr/bin/time exists, else NaN; it covers the
        command's own process, not the children it waits for (e.g. its MLflow child)."""
        command = [sys.executable, "-m", "tickcast", *args]
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
            if TIME:
                command = [TIME, "-q", "-f", "%M", "-o", rss.name, *command]
            started = time.perf_counter()
            code = subprocess.run(
                command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=TIMEOUT_S,
            ).returncode
            seconds = time.perf_counter() - started
            text = rss.read().strip().splitlines()
        peak = int(text[-1]) / 1024 if TIME and text and text[-1].isdigit() else float("nan")
        return seconds, peak, code


def side(label: str, code: Path, store: Path) -> Side:
    env = old_code_env(
        code,
        TICKCAST_DATA__DIR=str(store),
        TICKCAST_MLFLOW__TRACKING_URI=f"sqlite:///{store}/mlflow.db",
        TICKCAST_KAFKA__METRICS_PORT="0",
        TICKCAST_MODEL__MAX_EPOCHS=TRAIN_EPOCHS,
    )
    return Side(label, code, env)


def train(target: Side, data: Path) -> str:
    """A champion for `target`'s store, by its own code; "" or why it failed."""
    done = subprocess.run(
        [sys.executable, "-m", "tickcast", "train", "--source", f"csv:{data}", "--tickers", TICKER],
        cwd=target.cwd,
        env=target.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    return "" if done.returncode == 0 else f"training failed: {done.stderr.strip()[-200:]}"


def medians(
    sides: list[Side], command: Command, runs: int
) -> dict[str, tuple[float, float, float] | str]:
    """Per side, (median wall s, that run's peak RSS MB, the first run's wall s) or why the
    command failed. The sides take turns run by run, so a change in the machine's load falls
    on both alike."""
    results: dict[str, list[tuple[float, float]] | str] = {side.label: [] for side in sides}
    for _ in range(runs):
        for target in sides:
            done = results[target.label]
            if isinstance(done, str):
                continue
            seconds, rss, code = target.run(command.args)
            results[target.label] = f"exit code {code}" if code else [*done, (seconds, rss)]
    return {
        label: done if isinstance(done, str) else (*sorted(done)[len(done) // 2], done[0][0])
        for label, done in results.items()
    }


def main() -> None:
    args = arguments(__doc__, runs=3, commit=BASELINE_COMMIT)
    data = args.data.resolve()
    report = Report(f"whole commands, median of {args.runs} runs (issue 15)")
    with (
        tempfile.TemporaryDirectory() as new_store,
        tempfile.TemporaryDirectory() as old_store,
        old_commit_worktree(args.commit) as (tree, why_not),
    ):
        new = side("now", ROOT, Path(new_store))
        old = side(args.commit, tree, Path(old_store)) if tree else None
        if problem := train(new, data):
            raise SystemExit(problem)
        if old is not None and (problem := train(old, data)):
            old, why_not = None, f"{args.commit}: {problem}"
        for command in commands(data):
            figures = medians([new] if old is None else [new, old], command, args.runs)
            now = figures["now"]
            then = figures.get(args.commit, why_not)
            measured = now if isinstance(now, str) else f"{now[0]:.2f} s ({now[1]:.0f} MB)"
            if not isinstance(now, str):
                measured += f"; first run {now[2]:.2f} s"
            before = then if isinstance(then, str) else f"{then[0]:.2f} s ({then[1]:.0f} MB)"
            issue = f"; issue {command.issue_s} s" if command.issue_s else ""
            goal = f"<= {command.goal_s} s" if command.goal_s else "no goal"
            report.add(
                command.name,
                measured,
                f"{goal}{issue}; "
                + (f"{args.commit}: {before}" if tree else f"reference not assessed: {why_not}"),
                None
                if isinstance(now, str) or command.goal_s is None
                else now[0] <= command.goal_s,
            )
    report.print()


if __name__ == "__main__":
    main()
