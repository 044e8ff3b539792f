"""Serving on ONNX Runtime against torch (issue 15, part 1), all measured in one run.

Run: `.venv/bin/python benchmarks/onnx_runtime.py [--data DIR] [--before REF]`.
- The network alone: one window, and 1,000 windows, in torch (traced and frozen on one
  thread, each window a batch of one, as serving ran before; and as one batch) and in ONNX
  Runtime (one call, as serving runs now).
- How far the two runtimes are apart on every window of the five shared tickers.
- A serving process: import, load the champion from MLflow, forecast 1,000 windows; its wall
  times and RSS, with this tree and with commit `--before` (default: the last one that served
  with torch), unpacked by `git archive` into a temporary folder and run on the same store.
- The first load of a model saved before the export: what exporting it costs.
The model is the default 32-unit network with untrained LSTM weights and random heads (speed
and memory do not depend on their values) beside statistics fit on 2018-2022 of the five
tickers, in a temporary MLflow store.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import torch
from common import END, FIVE, START, TEST_START, VALID_START, Report, arguments, temporary_settings

from core.config import Settings
from model import registry
from model.bundle import Calibration, ModelBundle
from model.evaluation import windows_in_range
from model.export import export_weights, network_from
from model.features import window_features
from model.fitting import prepare
from model.trainable import TrainableBundle
from model.windows import WindowSet
from producers.sources import PriceData, load_prices

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "037f098"  # the last commit whose serving processes ran torch
BATCH = 1_000
_RESIDUALS = np.sort(np.random.default_rng(0).standard_normal(999))
STAND_IN_CALIBRATION = Calibration(1.0, _RESIDUALS, _RESIDUALS)  # changes no figure here
# A serving process as the worker and the API run one: load the champion, forecast.
PROBE = """
import json, sys, time
started = time.perf_counter()
from model.predictor import Predictor
from core.config import Settings
imported = time.perf_counter()
settings = Settings(data={"dir": sys.argv[1]}, mlflow={"tracking_uri": sys.argv[2]})
predictor = Predictor.load(settings)
loaded = time.perf_counter()
windows = json.load(sys.stdin)
predictor.predict(windows)
done = time.perf_counter()
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "import_s": imported - started, "load_s": loaded - imported, "forecast_s": done - loaded,
    "rss_mb": int(status["VmRSS"].split()[0]) / 1024, "torch": "torch" in sys.modules,
}))
"""


def median_ms(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of `call`, after a warm-up, in ms."""
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def traced(bundle: ModelBundle) -> torch.jit.ScriptModule:
    """The network as torch served it: traced and frozen."""
    net = network_from(bundle.weights, bundle.hparams)
    example = (torch.zeros(1, bundle.window - 1, 3), torch.zeros(1, 4))
    with torch.inference_mode():
        return torch.jit.freeze(torch.jit.trace(net, example))


def register(settings: Settings, bundle: ModelBundle) -> None:
    client = registry.connect(settings.mlflow)
    with mlflow.start_run() as run:
        uri = registry.log_bundle(bundle)
    version = registry.register(uri, settings.mlflow.model_name, run.info.run_id)
    registry.set_alias(client, settings.mlflow.model_name, settings.mlflow.champion_alias, version)


def serve(tree: Path, settings: Settings, windows: np.ndarray) -> dict:
    """The probe in a fresh interpreter on the code of `tree`; median of three runs."""
    runs = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", PROBE, str(settings.data.dir), settings.mlflow.tracking_uri],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            input=json.dumps(windows.tolist()),
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"torch": runs[0]["torch"]}


def unpack(ref: str, into: Path) -> Path:
    """The tree of commit `ref`, read with `git archive` (the checkout is left alone)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def stand_in(settings: Settings, prices: PriceData) -> ModelBundle:
    """The default network with random heads, so forecasts vary, exported as training does."""
    prepared = prepare(prices, settings.model, VALID_START, TEST_START)
    hp = settings.model
    torch.manual_seed(hp.seed)
    trainable = TrainableBundle.build(
        hp.window, hp.hidden_size, hp.num_layers, hp.dropout, prepared.scaler, prepared.baselines
    )
    with torch.no_grad():
        for head in (trainable.net.location, trainable.net.scale, trainable.net.har):
            head.weight.normal_(0.0, 0.5)
    return trainable.serving(STAND_IN_CALIBRATION)


def network_figures(report: Report, bundle: ModelBundle, windows: WindowSet) -> None:
    """Speed of the network alone in each runtime, and how far apart their outputs are."""
    steps, prior, _ = window_features(windows.closes, bundle.scaler, windows.bars)
    runner = traced(bundle)
    x, p = torch.from_numpy(steps[:BATCH]), torch.from_numpy(prior[:BATCH])

    def one_by_one() -> None:
        for i in range(BATCH):
            runner(x[i : i + 1], p[i : i + 1])

    with torch.inference_mode():
        one_torch = median_ms(lambda: runner(x[:1], p[:1]), 300)
        loop = median_ms(one_by_one, 5)
        batched = median_ms(lambda: runner(x, p), 20)
        out = runner(torch.from_numpy(steps), torch.from_numpy(prior)).numpy().astype(np.float64)
    one_ort = median_ms(lambda: bundle.network(steps[:1], prior[:1]), 300)
    ort_batch = median_ms(lambda: bundle.network(steps[:BATCH], prior[:BATCH]), 20)
    report.add("one window, torch", f"{one_torch:.3f} ms", "traced and frozen, one thread")
    report.add("one window, ONNX Runtime", f"{one_ort:.3f} ms", f"{one_torch / one_ort:.1f}x")
    report.add("1,000 windows, torch one by one", f"{loop:.1f} ms", "how torch served")
    report.add("1,000 windows, torch as one batch", f"{batched:.1f} ms", "bits vary with batch")
    report.add(
        "1,000 windows, ONNX Runtime in one call",
        f"{ort_batch:.1f} ms",
        f"{loop / ort_batch:.1f}x faster than torch as served; same bits in any batch",
    )
    served = bundle.predict_distribution(windows.closes, windows.bars)
    location = bundle.scaler.inverse_transform(out[:, 0])
    scale = np.exp(out[:, 1]) * bundle.scaler.std
    gap = max(np.abs(served.location - location).max(), np.abs(served.scale - scale).max())
    report.add(
        f"largest |ONNX - torch|, {len(windows):,} windows",
        f"{gap:.1e}",
        "location and scale; goal <= 1e-6",
        gap <= 1e-6,
    )
    started = time.perf_counter()
    export_weights(bundle.weights, bundle.hparams, bundle.window)
    report.add(
        "export on first load (saved before ONNX)",
        f"{time.perf_counter() - started:.2f} s",
        "plus importing torch; once per model",
    )


def process_figures(
    report: Report, settings: Settings, bundle: ModelBundle, sample: np.ndarray, ref: str
) -> None:
    """A serving process on this tree beside one on commit `ref`, on the same champion."""
    register(settings, bundle)
    after = serve(ROOT, settings, sample)
    with tempfile.TemporaryDirectory() as old:
        before = serve(unpack(ref, Path(old)), settings, sample)
    for key, label in (
        ("import_s", "serving process: import"),
        ("load_s", "serving process: load the champion"),
        ("forecast_s", "serving process: forecast 1,000 windows"),
    ):
        report.add(label, f"{after[key]:.2f} s", f"{before[key]:.2f} s at {ref}")
    report.add(
        "serving process RSS",
        f"{after['rss_mb']:.0f} MB (torch loaded: {after['torch']})",
        f"{before['rss_mb']:.0f} MB at {ref} (torch loaded: {before['torch']})",
        after["rss_mb"] < before["rss_mb"],
    )


def main() -> None:
    args = arguments(__doc__, before=BEFORE)
    report = Report("serving on ONNX Runtime (issue 15)")
    torch.set_num_threads(1)  # as torch served: one intra-op thread
    with temporary_settings() as settings:
        prices = load_prices(f"csv:{args.data}", FIVE, settings.data, START, END)
        bundle = stand_in(settings, prices)
        windows = windows_in_range(prices, bundle.window, None, None)
        network_figures(report, bundle, windows)
        process_figures(report, settings, bundle, windows.closes[:BATCH], args.before)
    report.print()


if __name__ == "__main__":
    main()
