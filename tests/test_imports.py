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


# The worker and the API load their model from the local cache (model/fetch.py), which a short
# child process fills from the registry: MLflow (1.3 s, 170 MB) never loads in them.
# tests/model/test_fetch.py loads a real champion that way and checks the same.
REGISTRY_FREE = ("model.predictor", "model.registry", "model.serving", "streams.worker", "api.main")


def test_the_worker_and_api_modules_do_not_import_mlflow() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (("mlflow",),), *REGISTRY_FREE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == {name: [] for name in REGISTRY_FREE}


def test_the_mlflow_probe_sees_a_module_that_imports_it() -> None:
    """The check above can fail: MLflow's pyfunc entry (for other tools) does load it."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (("mlflow",),), "model.fetch", "model.pyfunc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {"model.fetch": [], "model.pyfunc": ["mlflow"]}


def test_backtests_and_evaluation_load_neither_mlflow_nor_matplotlib_at_import() -> None:
    """MLflow is read in a child process (backtest/tracking.py) and matplotlib loads only
    when a plot is written: importing the code that runs `backtest` and `evaluate` loads
    neither. The whole commands are checked in tests/backtest/test_backtest.py."""
    modules = ("backtest.run", "backtest.tracking", "model.evaluation", "model.baselines")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import importlib, json, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            f"print(json.dumps([m for m in ('mlflow', 'matplotlib', *{TRAINING_ONLY!r}) "
            f"if m in sys.modules]))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
