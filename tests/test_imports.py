"""Serving processes import neither torch nor Lightning: they run the network with ONNX
Runtime, and torch alone costs 1.5 s and 220 MB at import. Training keeps both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINING_ONLY = ("torch", "lightning")
SERVING = (
    "model.forecaster",
    "model.predictor",
    "model.evaluation",
    "streams.app",
    "streams.worker",
    "api.main",
    "backtest.run",
    "tickcast.cli",
)
# Imports each module in turn in a fresh interpreter; after each, which of TRAINING_ONLY
# have been loaded so far (so the first module that pulls one in is the one named).
PROBE = """
import importlib, json, sys
seen = {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    seen[name] = [m for m in %r if m in sys.modules]
print(json.dumps(seen))
"""


def loaded_after(*modules: str) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (TRAINING_ONLY,), *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_serving_modules_import_neither_torch_nor_lightning() -> None:
    seen = loaded_after(*SERVING)
    assert seen == {name: [] for name in SERVING}


def test_the_probe_sees_training_import_both() -> None:
    """The check above can fail: training does load both."""
    assert loaded_after("model.training") == {"model.training": list(TRAINING_ONLY)}


def test_the_command_line_loads_no_heavy_library_before_a_command_needs_it() -> None:
    """`tickcast --help` and argument errors stay fast: pandas, aiokafka, MLflow, ONNX
    Runtime and matplotlib load inside the commands that use them."""
    heavy = ("pandas", "aiokafka", "mlflow", "onnxruntime", "matplotlib", *TRAINING_ONLY)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, json, tickcast.cli; "
            f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
