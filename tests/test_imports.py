"""Serving processes import neither torch nor Lightning: they run the network with ONNX
Runtime, and torch alone costs 1.5 s and 220 MB at import. Training keeps both."""

from __future__ import annotations

from tests.probes import loaded_after

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


def test_serving_modules_import_neither_torch_nor_lightning() -> None:
    assert loaded_after(SERVING, TRAINING_ONLY) == {name: [] for name in SERVING}


def test_the_probe_sees_training_import_both() -> None:
    """The check above can fail: training does load both."""
    assert loaded_after(["model.training"], TRAINING_ONLY) == {
        "model.training": list(TRAINING_ONLY)
    }


def test_the_command_line_loads_no_heavy_library_before_a_command_needs_it() -> None:
    """`tickcast --help` and argument errors stay fast: pandas, aiokafka, MLflow, ONNX
    Runtime and matplotlib load inside the commands that use them."""
    heavy = ("pandas", "aiokafka", "mlflow", "onnxruntime", "matplotlib", *TRAINING_ONLY)
    assert loaded_after(["tickcast.cli"], heavy) == {"tickcast.cli": []}


# The worker and the API load their model from the local cache (model/fetch.py), which a short
# child process fills from the registry: MLflow (1.3 s, 170 MB) never loads in them.
# tests/model/test_fetch.py loads a real champion that way and checks the same. Nor does
# scipy.stats (46 MB): model/intervals.py reads its binomial quantile without it.
REGISTRY_FREE = ("model.predictor", "model.registry", "model.serving", "streams.worker", "api.main")
NOT_SERVED = ("mlflow", "scipy.stats")


def test_the_worker_and_api_modules_import_neither_mlflow_nor_scipy_stats() -> None:
    assert loaded_after(REGISTRY_FREE, NOT_SERVED) == {name: [] for name in REGISTRY_FREE}


def test_the_probe_sees_modules_that_import_them() -> None:
    """The check above can fail: MLflow's pyfunc entry (for other tools) loads MLflow, and
    arch (the GARCH baseline's fit) loads scipy.stats."""
    seen = loaded_after(["model.fetch", "model.pyfunc", "arch"], NOT_SERVED)
    assert seen == {
        "model.fetch": [],
        "model.pyfunc": ["mlflow"],
        "arch": ["mlflow", "scipy.stats"],
    }


def test_backtests_and_evaluation_load_neither_mlflow_nor_matplotlib_at_import() -> None:
    """MLflow is read in a child process (model/tracking.py) and matplotlib loads only
    when a plot is written: importing the code that runs `backtest` and `evaluate` loads
    neither. The whole commands are checked in tests/backtest/test_backtest.py."""
    modules = ("backtest.run", "model.tracking", "model.evaluation", "model.baselines")
    seen = loaded_after(modules, ("mlflow", "matplotlib", *TRAINING_ONLY))
    assert seen == {name: [] for name in modules}
