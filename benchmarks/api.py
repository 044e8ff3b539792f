"""API figures of issues 4 and 15, each beside its reference, measured in one run.

Run: `make bench-api` (needs Debian's wrk; `apt-get install wrk`).
- POST /predict with a valid window: wrk, 1 thread, 16 connections, --seconds (10), one
  uvicorn worker; then the student project's API (../shared/student-project) under the same
  load with the same window, in this run. Its virtual environment is made once, outside the
  repository (~/.cache/tickcast-bench/student-venv: torch==2.13.0 first, so pip keeps the
  local CPU build, then the packages ../shared/README.md lists), and it runs from a copy in a
  temporary folder, since it writes beside itself. Without that folder: "not assessed".
- Commit d5c4046 (issue 15's reference), in this run: its own API benchmark, from a temporary
  `git worktree` with this venv; its /predict and RSS rows are read back (`--baseline ''`
  skips it). The checkout is untouched.
- /predict p99 while a POST /train job runs, against the idle p99.
- The API's RSS after the load, beside issue 15's 616 MB and d5c4046's in this run.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import (  # benchmarks/ is on sys.path when run as a script
    DATA,
    Report,
    arguments,
    rss_mb,
    temporary_settings,
    tickcast,
    train_on,
)
from worktree import BASELINE_COMMIT, last_line, run_old_benchmark

from core.processes import die_with_parent, stop
from streams.broker import free_port, port_open

TOKEN = "bench-token"
CONNECTIONS = 16
WARM_UP_S = 3
BASELINE_TIMEOUT_S = 600
# Runs the commit's own benchmarks/api.py with its table printed as JSON rows, for reading.
BASELINE_DRIVER = """
import json, runpy, sys
sys.path.insert(0, "benchmarks")
import model_core
model_core.print_table = lambda title, columns, rows: print(json.dumps(rows))
sys.argv = ["benchmarks/api.py", *sys.argv[1:]]
runpy.run_path("benchmarks/api.py", run_name="__main__")
"""
# Issue 15's figures (its "Why"), measured before this round on a 2-core machine.
ISSUE_RPS, ISSUE_P99_MS = 1648.0, 17.8
ISSUE_STUDENT_RPS, ISSUE_STUDENT_P99_MS = 312.0, 353.0
ISSUE_RSS_MB, GOAL_RSS_MB = 616.0, 300.0

STUDENT = DATA / ".." / "student-project"
STUDENT_VENV = Path.home() / ".cache" / "tickcast-bench" / "student-venv"
STUDENT_TORCH = "torch==2.13.0"  # first, so that pip keeps the local CPU build
STUDENT_PACKAGES = [
    *("numpy<2", "scikit-learn", "joblib", "fastapi", "uvicorn", "psutil"),
    *("pytorch-lightning", "pandas", "mlflow", "matplotlib", "yfinance"),
]
STUDENT_IMPORTS = "import torch, sklearn, joblib, fastapi, uvicorn, psutil, numpy, pandas"
STUDENT_START_S = 180  # it imports torch, Lightning and MLflow before it listens
STUDENT_TRAIN_SHARE = 0.7  # its scripts/02_preprocess.py: the first 70% of closes train


@dataclass
class Load:
    """One wrk run: requests/s, p50 and p99 in ms, and answers that were not 2xx."""

    rps: float
    p50: float
    p99: float
    non2xx: float

    def __str__(self) -> str:
        return (
            f"{self.rps:,.0f} req/s; p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms"
            f" ({self.non2xx:.0f} non-2xx)"
        )


def wrk(url: str, body: dict, seconds: int, workdir: Path) -> Load:
    """POST `body` to `url` with wrk: 1 thread, CONNECTIONS connections."""
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    figures = {"rps": float(found.group(1)) if found else 0.0}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        figures[f"p{pct}"] = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(non2xx=float(errors.group(1)) if errors else 0.0, **figures)


def wait_for_port(port: int, timeout_s: float, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + timeout_s
    while not port_open("127.0.0.1", port):
        if time.monotonic() > deadline or process.poll() is not None:
            return False
        time.sleep(0.2)
    return True


def post(url: str, body: dict, timeout_s: float = 30) -> tuple[int, str]:
    """Status and text of one POST; an error status is an answer too."""
    request = urllib.request.Request(
        url,
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def passes(base: str) -> str:
    """Windows per forward pass of POST /predict, from the API's own metrics."""
    text = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
    total = re.search(r"^tickcast_api_predict_pass_windows_sum ([\d.e+]+)$", text, re.M)
    count = re.search(r"^tickcast_api_predict_pass_windows_count ([\d.e+]+)$", text, re.M)
    if not (total and count and float(count.group(1))):
        return "n/a"
    return f"{float(total.group(1)) / float(count.group(1)):.1f} windows per pass"


# --- the student project ------------------------------------------------------------------


def pip(venv: Path, *packages: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *packages],
        capture_output=True,
        text=True,
    )


def importable(venv: Path) -> bool:
    python = venv / "bin" / "python"
    return python.exists() and subprocess.run([python, "-c", STUDENT_IMPORTS]).returncode == 0


def student_venv() -> tuple[Path | None, str]:
    """The student's venv, made on first use; (None, why) when it cannot be made.

    Its own packages from PyPI first; offline, a venv that borrows this venv's packages (a
    .pth file) and adds what the student needs beyond them. The way taken is remembered.
    """
    marker = STUDENT_VENV / "tickcast-bench.json"
    if marker.is_file() and importable(STUDENT_VENV):
        return STUDENT_VENV, json.loads(marker.read_text())["how"]
    print(f"making the student project's venv in {STUDENT_VENV} (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(STUDENT_VENV)], check=True)
    how = "its own venv (PyPI)"
    done = pip(STUDENT_VENV, STUDENT_TORCH)
    if done.returncode == 0:
        done = pip(STUDENT_VENV, *STUDENT_PACKAGES)
    if done.returncode != 0:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(STUDENT_VENV)], check=True)
        site = next((STUDENT_VENV / "lib").glob("python*/site-packages"))
        ours = next(Path(p) for p in sys.path if p.endswith("site-packages"))
        (site / "tickcast-venv.pth").write_text(f"{ours}\n")
        pip(STUDENT_VENV, "scikit-learn", "joblib", "psutil")
        how = "tickcast's venv packages borrowed through a .pth file (PyPI out of reach)"
    if not importable(STUDENT_VENV):
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"its packages could not be installed: {last}"
    marker.write_text(json.dumps({"how": how}))
    return STUDENT_VENV, how


def student_baseline_stats(copy: Path, data: Path) -> None:
    """models/baseline_stats.json, which the copy lacks (the project ships without data) and
    without which its /predict fails every call: the statistics its own preprocessing writes
    (count, mean, std, min, max, q25, q75) over the first 70% of CMIG4's closes."""
    lines = (data / "CMIG4.SA.csv").read_text().splitlines()
    column = lines[0].split(",").index("Close")
    closes = np.array([float(line.split(",")[column]) for line in lines[1:] if line])
    train = closes[: int(len(closes) * STUDENT_TRAIN_SHARE)]
    stats = {
        "count": int(train.size),
        "mean": float(train.mean()),
        "std": float(train.std(ddof=1)),
        "min": float(train.min()),
        "max": float(train.max()),
        "q25": float(np.quantile(train, 0.25)),
        "q75": float(np.quantile(train, 0.75)),
    }
    (copy / "models" / "baseline_stats.json").write_text(json.dumps(stats, indent=4))


def measure_student(window: list[float], data: Path, seconds: int) -> tuple[Load, float, str] | str:
    """The student's POST /predict under the same load, its RSS after, and how its venv was
    made; or why it was not assessed."""
    if not STUDENT.is_dir():
        return f"not assessed: {STUDENT.resolve()} is absent"
    venv, how = student_venv()
    if venv is None:
        return f"not assessed: {how}"
    with tempfile.TemporaryDirectory(prefix="tickcast-student-") as tmp:
        copy = Path(tmp) / "student-project"
        shutil.copytree(STUDENT, copy, ignore=shutil.ignore_patterns("__pycache__"))
        student_baseline_stats(copy, data)
        port = free_port()
        server = subprocess.Popen(
            [
                venv / "bin" / "python",
                "-m",
                "uvicorn",
                "api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=copy,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        try:
            if not wait_for_port(port, STUDENT_START_S, server):
                return f"not assessed: its API did not start (exit code {server.poll()})"
            base = f"http://127.0.0.1:{port}"
            code, text = post(f"{base}/predict", {"last_prices": window})
            if code != 200:
                return f"not assessed: its /predict answered {code}: {text[:80]}"
            wrk(f"{base}/predict", {"last_prices": window}, WARM_UP_S, Path(tmp))
            load = wrk(f"{base}/predict", {"last_prices": window}, seconds, Path(tmp))
            rss = rss_mb(server.pid)
        finally:
            stop(server, 30, "the student API")
    return load, rss, how


# --- commit d5c4046 -----------------------------------------------------------------------


def baseline_api(commit: str, data: Path, seconds: int) -> tuple[Load | None, float | None, str]:
    """`commit`'s /predict figure and API RSS from its own benchmark, run from a temporary
    `git worktree` with this venv; Nones and why when it cannot be measured."""
    run, why = run_old_benchmark(
        commit,
        ["-c", BASELINE_DRIVER, "--data", str(data.resolve()), "--seconds", str(seconds)],
        BASELINE_TIMEOUT_S,
    )
    if run is None:
        return None, None, why
    try:
        rows = {row[0]: row[1] for row in json.loads(run.stdout.strip().splitlines()[-1])}
        load = re.fullmatch(
            r"([\d,.]+) req/s; p50 ([\d.]+) ms, p99 ([\d.]+) ms \((\d+) non-2xx\)",
            rows[f"POST /predict, {CONNECTIONS} connections, 1 worker"],
        )
        rss = re.fullmatch(r"([\d,.]+) MB", rows["API RSS after the load"])
        figures = [float(g.replace(",", "")) for g in load.groups()]  # type: ignore[union-attr]
        return Load(*figures), float(rss.group(1).replace(",", "")), f"commit {commit}"  # type: ignore[union-attr]
    except (IndexError, ValueError, KeyError, AttributeError):
        return None, None, f"its benchmark failed (exit {run.returncode}): {last_line(run)}"


# --- tickcast -----------------------------------------------------------------------------


def start_training(base: str, data: Path) -> str:
    """POST /train of a three-ticker model long enough to outlast the load; its job id."""
    request = urllib.request.Request(
        f"{base}/train",
        method="POST",
        data=json.dumps(
            {
                "source": f"csv:{data.resolve()}",
                "tickers": ["CMIG4.SA", "PETR4.SA", "VALE3.SA"],
                "hyperparameters": {"max_epochs": 60, "patience": 60},
            }
        ).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    return json.loads(urllib.request.urlopen(request, timeout=10).read())["job_id"]


def main() -> None:
    args = arguments(__doc__, seconds=10, baseline=BASELINE_COMMIT)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    report = Report("tickcast API (issues 4 and 15)")
    try:
        measure(args, report)
    finally:  # what was measured before a failure still shows
        report.print()


def measure(args: argparse.Namespace, report: Report) -> None:
    # First, alone on the machine: the reference commit's own benchmark.
    old_load, old_rss, old_how = baseline_api(args.baseline, args.data, args.seconds)
    with temporary_settings() as settings:
        root = settings.data.dir
        cmig, _ = train_on(settings, args.data, ["CMIG4.SA"])
        window = cmig.frames["CMIG4.SA"]["close"].to_list()[-60:]
        body = {"last_prices": window, "ticker": "CMIG4.SA"}
        port = free_port()
        with tickcast(
            settings,
            "api",
            "--port",
            str(port),
            TICKCAST_API__TOKEN=TOKEN,
            TICKCAST_API__TRAIN_DATA_DIR=str(args.data.resolve()),  # /train reads csv: there
        ) as server:
            if not wait_for_port(port, 60, server):
                raise SystemExit(f"tickcast api did not start (exit code {server.poll()})")
            base = f"http://127.0.0.1:{port}"
            wrk(f"{base}/predict", body, WARM_UP_S, root)
            idle = wrk(f"{base}/predict", body, args.seconds, root)
            rss = rss_mb(server.pid)
            batching = passes(base)

            # The student's API, while ours idles: the same window, the same load.
            student = measure_student(window, args.data, args.seconds)
            if isinstance(student, str):
                versus, goal_met = student, None
            else:
                versus = (
                    f"student {student[0].rps:,.0f} req/s, p99 {student[0].p99:.1f} ms in this "
                    f"run; goal >= 10x = {10 * student[0].rps:,.0f} req/s, p99 <= 20 ms"
                )
                goal_met = idle.rps >= 10 * student[0].rps and idle.p99 <= 20
            report.add(
                f"POST /predict, {CONNECTIONS} connections, 1 worker",
                f"{idle} ({batching})",
                versus,
                goal_met,
            )
            report.add(
                "POST /predict, the student project",
                student if isinstance(student, str) else f"{student[0]} ({student[2]})",
                f"issue 15: {ISSUE_STUDENT_RPS:,.0f} req/s, p99 {ISSUE_STUDENT_P99_MS:.0f} ms",
            )
            report.add(
                f"POST /predict, commit {args.baseline or BASELINE_COMMIT}",
                str(old_load) if old_load else old_how,
                f"issue 15: tickcast {ISSUE_RPS:,.0f} req/s, p99 {ISSUE_P99_MS} ms; now "
                + (f"{idle.rps / old_load.rps:.1f}x its req/s" if old_load else "-"),
            )

            job = start_training(base, args.data)
            time.sleep(2)  # the training process is importing torch and loading data
            busy = wrk(f"{base}/predict", body, 10, root)
            status = urllib.request.Request(
                f"{base}/train/{job}", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            state = json.loads(urllib.request.urlopen(status, timeout=5).read())
            report.add(
                "POST /predict p99 while /train runs",
                f"{busy.p99:.1f} ms ({busy.rps:,.0f} req/s; job {state['state']}, epoch "
                f"{state['epoch']})",
                f"idle p99 {idle.p99:.1f} ms; goal <= 2x = {2 * idle.p99:.1f} ms",
                busy.p99 <= 2 * idle.p99 and state["state"] == "running",
            )
            others = [f"issue 15: {ISSUE_RSS_MB:.0f} MB"]
            if old_rss is not None:
                others.append(f"{old_how} in this run: {old_rss:,.0f} MB")
            if not isinstance(student, str):
                others.append(f"student: {student[1]:,.0f} MB")
            report.add(
                "API RSS after the load",
                f"{rss:,.0f} MB",
                "; ".join(others) + f"; goal <= {GOAL_RSS_MB:.0f} MB",
                rss <= GOAL_RSS_MB,
            )


if __name__ == "__main__":
    main()
