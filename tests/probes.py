"""Python run in a fresh interpreter, from the project root, for what one test process cannot
see: which libraries an import or a load pulls in (`sys.modules` of a process where no test
has loaded anything yet). The probe prints one JSON line last; that line is the answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Imports each module in turn; after each, which of the watched modules have loaded so far
# (so the first module that pulls one in is the one named).
IMPORTS = """
import importlib, json, sys
watched = json.loads(sys.argv[1])
seen = {}
for name in sys.argv[2:]:
    importlib.import_module(name)
    seen[name] = [m for m in watched if m in sys.modules]
print(json.dumps(seen))
"""


def run_probe(
    code: str,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 300,
) -> Any:
    """Run `code` with `args` as `python -c`; its last stdout line, parsed as JSON. A probe
    that fails fails the test with the end of its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, f"probe exited {done.returncode}: {done.stderr[-2000:]}"
    return json.loads(done.stdout.splitlines()[-1])


def loaded_after(modules: Iterable[str], watched: Iterable[str]) -> dict[str, list[str]]:
    """Per module imported in turn, which of `watched` are loaded once it is."""
    return run_probe(IMPORTS, json.dumps(list(watched)), *modules)
