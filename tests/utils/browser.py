"""Headless Chromium for tests that look at a page, and a real HTTP server for it to load.

The same flags as the end-to-end dashboard test (tests/test_end_to_end.py), plus a way to
cut the browser off from every host but this one.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from streams.broker import free_port
from tests.utils.waiting import eventually

CHROMIUM_TIMEOUT_S = 90
SERVER_START_S = 60.0

MISSING = (
    "Debian's chromium is not installed (make test installs it where apt-get works); "
    "only the screenshots need it"
)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def offline(host: str) -> list[str]:
    """Flags that send every request to a closed port, except those to `host`."""
    return ["--proxy-server=127.0.0.1:9", f"--proxy-bypass-list={host}"]


def browse(url: str, screenshot: Path, *extra: str) -> str:
    """Save a screenshot of `url` and return its DOM after the page's scripts ran.

    Each call has a profile of its own: two Chromiums on one profile (tests run in parallel
    under pytest-xdist) would hand their URL to each other and exit."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1200,900",
            *extra,
        ]
        for output in (f"--screenshot={screenshot}", "--dump-dom"):
            page = subprocess.run(
                [chromium(), *flags, output, url],
                capture_output=True,
                timeout=CHROMIUM_TIMEOUT_S,
                check=False,
                text=True,
            )
    return page.stdout


@contextmanager
def serving(app: FastAPI, host: str = "127.0.0.1", lifespan: str = "auto") -> Iterator[str]:
    """`app` behind uvicorn on a free port, in a thread; yields its base URL. `lifespan="off"`
    serves an app whose lifespan a TestClient already ran, with the state it holds."""
    config = uvicorn.Config(
        app, host=host, port=free_port(host), log_level="error", lifespan=lifespan
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: server.started, SERVER_START_S, "uvicorn started")
        yield f"http://{host}:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_START_S)
