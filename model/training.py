"""Training as named steps: prepare, fit, score, record, register, promote.

`train` composes them; the CLI, the API's training job, walk-forward backtests and the tests
all call it and get its metrics back.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
from mlflow import ActiveRun

from core.config import Settings
from model import registry
from model.bundle import ModelBundle
from model.evaluation import OVERALL, score_by_ticker
from model.fitting import EpochHook, Fitted, Prepared, fit, prepare
from model.plots import forecast_plot
from model.predictor import Predictor
from model.windows import SPLITS, WindowSet
from producers.sources import PriceData
from schemas.metrics import MetricSet, TrainResult

logger = logging.getLogger(__name__)

Scores = dict[str, dict[str, MetricSet]]  # split -> ticker (and overall) -> metrics


@contextmanager
def tracked_run(settings: Settings, data: PriceData) -> Iterator[ActiveRun]:
    """An MLflow run in the configured experiment, tagged with where the data came from."""
    registry.connect(settings.mlflow)
    tags = {"data_source": data.source, "synthetic": registry.flag(data.synthetic)}
    with mlflow.start_run(tags=tags) as run:
        yield run


def score(bundle: ModelBundle, prepared: Prepared) -> Scores:
    """Validation and test metrics, each against naive on the same windows."""
    scores = {}
    for split in ("valid", "test"):
        windows = prepared.splits[split]
        scores[split] = score_by_ticker(
            windows, bundle.predict_prices(windows.closes, windows.bars)
        )
    return scores


def _params(data: PriceData, settings: Settings, prepared: Prepared) -> dict[str, str]:
    params = {k: str(v) for k, v in settings.model.model_dump().items()}
    params.update(
        data_source=data.source,
        synthetic=registry.flag(data.synthetic),
        tickers=",".join(data.frames),
        scaler_mean=f"{prepared.scaler.mean:.6g}",
        scaler_std=f"{prepared.scaler.std:.6g}",
    )
    for name, windows in prepared.splits.items():
        params[f"{name}_range"] = windows.span()
        params[f"{name}_windows"] = str(len(windows))
    return params


def _flat_metrics(split: str, metrics: dict[str, MetricSet]) -> dict[str, float]:
    flat = {}
    for ticker, m in metrics.items():
        suffix = "" if ticker == OVERALL else f"/{ticker}"
        for key, value in m.model_dump().items():
            if np.isfinite(value):
                flat[f"{split}_{key}{suffix}"] = float(value)
    return flat


def record(
    data: PriceData, settings: Settings, prepared: Prepared, fitted: Fitted, scores: Scores
) -> str:
    """Log params, metrics, the test plot, the drift baseline and the model; returns its URI."""
    mlflow.log_params(_params(data, settings, prepared))
    for split, metrics in scores.items():
        mlflow.log_metrics(_flat_metrics(split, metrics))
    mlflow.log_metrics(
        {
            "epochs": fitted.epochs,
            "best_val_loss": fitted.best_loss,
            "train_seconds": fitted.seconds,
        }
    )
    test = prepared.splits["test"]
    label = "synthetic data" if data.synthetic else data.source
    with tempfile.TemporaryDirectory() as tmp:
        plot = forecast_plot(
            test,
            fitted.bundle.predict_prices(test.closes, test.bars),
            Path(tmp) / "test_forecast.png",
            f"test period, {label}",
        )
        mlflow.log_artifact(str(plot))
    mlflow.log_dict({k: v.to_dict() for k, v in prepared.baselines.items()}, "drift_baseline.json")
    mlflow.log_dict(_ranges(data, prepared), "data_ranges.json")
    return registry.log_bundle(fitted.bundle)


def _ranges(data: PriceData, prepared: Prepared) -> dict[str, dict[str, str]]:
    """split -> ticker -> 'first..last' target date."""
    return {
        split: {t: w.for_ticker(t).span() for t in data.frames}
        for split, w in prepared.splits.items()
    }


def decide_promotion(
    settings: Settings, valid: WindowSet, new_valid: MetricSet, override: bool | None
) -> tuple[bool, str]:
    """Promote when forced, when there is no champion, or when the new model beats it on `valid`."""
    if override is not None:
        return override, "forced by --promote" if override else "kept out by --no-promote"
    try:
        champion = Predictor.load(settings, settings.mlflow.champion_alias)
    except LookupError:
        return True, "no champion yet"
    if champion.window != valid.closes.shape[1]:
        return (
            True,
            f"champion v{champion.version} reads {champion.window}-close windows, "
            "so it cannot score these",
        )
    old = score_by_ticker(valid, champion.predict(valid.closes))[OVERALL]
    verdict = (
        f"validation MASE {new_valid.mase:.4f} vs champion v{champion.version}'s "
        f"{old.mase:.4f} on the same {old.n} windows"
    )
    if new_valid.mase < old.mase:
        return True, f"beats the champion: {verdict}"
    return False, f"does not beat the champion, which stays: {verdict}"


def register(
    settings: Settings, run: ActiveRun, model_uri: str, promoted: bool, reason: str
) -> str:
    """A new registered version; the champion alias moves to it when promoted."""
    name = settings.mlflow.model_name
    version = registry.register(model_uri, name, run.info.run_id)
    if promoted:
        client = registry.connect(settings.mlflow)
        registry.set_alias(client, name, settings.mlflow.champion_alias, version)
    mlflow.set_tags({"promoted": registry.flag(promoted), "promotion_reason": reason})
    logger.info("model %s v%s: %s", name, version, reason)
    return version


def train(
    data: PriceData,
    settings: Settings,
    *,
    valid_start: date | None = None,
    test_start: date | None = None,
    promote: bool | None = None,
    progress: bool = True,
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    """Train, evaluate against naive, log everything to MLflow, register, maybe promote."""
    prepared = prepare(data, settings.model, valid_start, test_start)
    with tracked_run(settings, data) as run:
        fitted = fit(
            prepared,
            settings.model,
            settings.mlflow.tracking_uri,
            run.info.run_id,
            progress,
            on_epoch,
        )
        scores = score(fitted.bundle, prepared)
        model_uri = record(data, settings, prepared, fitted, scores)
        promoted, reason = decide_promotion(
            settings, prepared.splits["valid"], scores["valid"][OVERALL], promote
        )
        version = register(settings, run, model_uri, promoted, reason)
    ranges = _ranges(data, prepared)
    return TrainResult(
        run_id=run.info.run_id,
        model_name=settings.mlflow.model_name,
        model_version=version,
        promoted=promoted,
        promotion_reason=reason,
        epochs=fitted.epochs,
        best_val_loss=fitted.best_loss,
        train_seconds=fitted.seconds,
        source=data.source,
        synthetic=data.synthetic,
        ranges={t: {split: ranges[split][t] for split in SPLITS} for t in data.frames},
        test=scores["test"],
        validation=scores["valid"],
    )
