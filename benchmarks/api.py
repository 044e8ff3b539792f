"""API figures of issue 4, each beside its reference, measured in one run.

Run: `make bench-api` (needs Debian's wrk; `apt-get install wrk`).
- POST /predict with a valid window: wrk, 20 s, 16 connections, one uvicorn worker.
- /predict p99 while a POST /train job runs, against the idle p99.
- The API's RSS after the load.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from datetime import date
from pathlib import Path

from model_core import print_table, rss_mb  # benchmarks/ is on sys.path when run as a script

from core.config import Settings
from model.training import train
from producers.sources import load_prices
from streams.broker import free_port, port_open

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
STUDENT_RPS, STUDENT_P99_MS, STUDENT_RSS_MB = 218.0, 174.0, 566.0
TOKEN = "bench-token"


def wrk(url: str, body: dict, seconds: int, connections: int, workdir: Path) -> dict[str, float]:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        figures[f"p{pct}"] = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            data={"dir": root}, mlflow={"tracking_uri": f"sqlite:///{root}/mlflow.db"}
        )
        cmig = load_prices(
            f"csv:{args.data}", ["CMIG4.SA"], settings.data, date(2018, 1, 2), date(2024, 12, 30)
        )
        train(
            cmig,
            settings,
            valid_start=date(2023, 1, 1),
            test_start=date(2024, 1, 1),
            progress=False,
        )
        window = cmig.frames["CMIG4.SA"]["close"].to_list()[-60:]
        port = free_port()
        env = {
            **os.environ,
            "TICKCAST_DATA__DIR": str(root),
            "TICKCAST_API__TOKEN": TOKEN,
            "TICKCAST_MLFLOW__TRACKING_URI": settings.mlflow.tracking_uri,
        }
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "tickcast", "api", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not port_open("127.0.0.1", port) and time.monotonic() < deadline:
                time.sleep(0.2)
            base = f"http://127.0.0.1:{port}"
            body = {"last_prices": window, "ticker": "CMIG4.SA"}
            wrk(f"{base}/predict", body, 3, 16, root)  # warm-up
            idle = wrk(f"{base}/predict", body, args.seconds, 16, root)
            rss = rss_mb(server.pid)
            rows.append(
                (
                    "POST /predict, 16 connections, 1 worker",
                    f"{idle['rps']:,.0f} req/s; p50 {idle['p50']:.1f} ms, p99 {idle['p99']:.1f} ms"
                    f" ({idle['non2xx']:.0f} non-2xx)",
                    f"student {STUDENT_RPS:.0f} req/s, p99 {STUDENT_P99_MS:.0f} ms; goal >= "
                    f"{10 * STUDENT_RPS:,.0f} req/s, p99 <= 20 ms",
                    "yes" if idle["rps"] >= 10 * STUDENT_RPS and idle["p99"] <= 20 else "NO",
                )
            )

            request = urllib.request.Request(
                f"{base}/train",
                method="POST",
                data=json.dumps(
                    {
                        "source": f"csv:{args.data}",
                        "tickers": ["CMIG4.SA", "PETR4.SA", "VALE3.SA"],
                        "hyperparameters": {"max_epochs": 60, "patience": 60},
                    }
                ).encode(),
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            )
            job = json.loads(urllib.request.urlopen(request, timeout=10).read())
            time.sleep(2)  # the training process is importing torch and loading data
            busy = wrk(f"{base}/predict", body, 10, 16, root)
            state = json.loads(
                urllib.request.urlopen(f"{base}/train/{job['job_id']}", timeout=5).read()
            )
            rows.append(
                (
                    "POST /predict p99 while /train runs",
                    f"{busy['p99']:.1f} ms ({busy['rps']:,.0f} req/s; job {state['state']}, epoch "
                    f"{state['epoch']})",
                    f"idle p99 {idle['p99']:.1f} ms; goal <= 2x = {2 * idle['p99']:.1f} ms",
                    "yes"
                    if busy["p99"] <= 2 * idle["p99"] and state["state"] == "running"
                    else "NO",
                )
            )
            rows.append(
                ("API RSS after the load", f"{rss:,.0f} MB", f"student {STUDENT_RSS_MB:.0f} MB", "")
            )
        finally:
            server.terminate()
            server.wait(30)
    print_table(
        "tickcast API (issue 4) - all figures measured in this run",
        ("figure", "measured", "reference / goal", "met"),
        rows,
    )


if __name__ == "__main__":
    main()
