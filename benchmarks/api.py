"""API figures of issue 4, each beside its reference, measured in one run.

Run: `make bench-api` (needs Debian's wrk; `apt-get install wrk`).
- POST /predict with a valid window: wrk, 20 s, 16 connections, one uvicorn worker.
- /predict p99 while a POST /train job runs, against the idle p99.
- The API's RSS after the load.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from common import (  # benchmarks/ is on sys.path when run as a script
    Report,
    arguments,
    rss_mb,
    temporary_settings,
    tickcast,
    train_on,
)

from streams.broker import free_port, port_open

STUDENT_RPS, STUDENT_P99_MS, STUDENT_RSS_MB = 218.0, 174.0, 566.0
TOKEN = "bench-token"


def wrk(url: str, body: dict, seconds: int, connections: int, workdir: Path) -> dict[str, float]:
    """Requests/s, p50 and p99 in ms, and non-2xx answers of POSTing `body` to `url`."""
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


def start_training(base: str, data: Path) -> str:
    """POST /train of a three-ticker model long enough to outlast the load; its job id."""
    request = urllib.request.Request(
        f"{base}/train",
        method="POST",
        data=json.dumps(
            {
                "source": f"csv:{data}",
                "tickers": ["CMIG4.SA", "PETR4.SA", "VALE3.SA"],
                "hyperparameters": {"max_epochs": 60, "patience": 60},
            }
        ).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    return json.loads(urllib.request.urlopen(request, timeout=10).read())["job_id"]


def main() -> None:
    args = arguments(__doc__, seconds=20)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    report = Report("tickcast API (issue 4)")
    with temporary_settings() as settings:
        root = settings.data.dir
        cmig, _ = train_on(settings, args.data, ["CMIG4.SA"])
        window = cmig.frames["CMIG4.SA"]["close"].to_list()[-60:]
        port = free_port()
        with tickcast(settings, "api", "--port", str(port), TICKCAST_API__TOKEN=TOKEN) as server:
            deadline = time.monotonic() + 60
            while not port_open("127.0.0.1", port) and time.monotonic() < deadline:
                time.sleep(0.2)
            base = f"http://127.0.0.1:{port}"
            body = {"last_prices": window, "ticker": "CMIG4.SA"}
            wrk(f"{base}/predict", body, 3, 16, root)  # warm-up
            idle = wrk(f"{base}/predict", body, args.seconds, 16, root)
            rss = rss_mb(server.pid)
            report.add(
                "POST /predict, 16 connections, 1 worker",
                f"{idle['rps']:,.0f} req/s; p50 {idle['p50']:.1f} ms, p99 {idle['p99']:.1f} ms"
                f" ({idle['non2xx']:.0f} non-2xx)",
                f"student {STUDENT_RPS:.0f} req/s, p99 {STUDENT_P99_MS:.0f} ms; goal >= "
                f"{10 * STUDENT_RPS:,.0f} req/s, p99 <= 20 ms",
                idle["rps"] >= 10 * STUDENT_RPS and idle["p99"] <= 20,
            )

            job = start_training(base, args.data)
            time.sleep(2)  # the training process is importing torch and loading data
            busy = wrk(f"{base}/predict", body, 10, 16, root)
            state = json.loads(urllib.request.urlopen(f"{base}/train/{job}", timeout=5).read())
            report.add(
                "POST /predict p99 while /train runs",
                f"{busy['p99']:.1f} ms ({busy['rps']:,.0f} req/s; job {state['state']}, epoch "
                f"{state['epoch']})",
                f"idle p99 {idle['p99']:.1f} ms; goal <= 2x = {2 * idle['p99']:.1f} ms",
                busy["p99"] <= 2 * idle["p99"] and state["state"] == "running",
            )
            report.add(
                "API RSS after the load", f"{rss:,.0f} MB", f"student {STUDENT_RSS_MB:.0f} MB"
            )
    report.print()


if __name__ == "__main__":
    main()
