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
from model.evaluation import OVERALL, forecast_windows
from model.fitting import EpochHook, Fitted, Prepared, fit, prepare
from model.forecaster import Forecaster
from model.plots import report_plots
from model.predictor import Predictor
from model.reports import Scored, baselines_for, report_metrics
from model.windows import SPLITS, WindowSet
from producers.sources import PriceData
from schemas.messages import TrainedOn
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


def candidate(bundle: ModelBundle, settings: Settings) -> Forecaster:
    """The freshly trained model behind the same forecast path as a served one."""
    return Forecaster(
        bundle, settings.mlflow.model_name, "candidate", settings.forecast, settings.drift
    )


def training_end(prepared: Prepared) -> dict[str, date]:
    """Per ticker, the last training target: the baselines fit on nothing later."""
    train = prepared.splits["train"]
    return {
        str(t): train.for_ticker(t).target_date.max().astype(date)
        for t in dict.fromkeys(train.ticker.tolist())
    }


def score(
    bundle: ModelBundle, prepared: Prepared, data: PriceData, settings: Settings
) -> tuple[Scores, dict[str, Scored]]:
    """Validation and test figures beside naive and the interval baselines, on the same days."""
    forecaster = candidate(bundle, settings)
    fit_until = training_end(prepared)
    shrink = bundle.calibration.shrink if bundle.calibration else None
    scores, scored = {}, {}
    for split in ("valid", "test"):
        scored[split] = forecast_windows(forecaster, prepared.splits[split])
        baselines = baselines_for(scored[split], data.frames, fit_until)
        scores[split] = report_metrics(scored[split], baselines, shrink)
    return scores, scored


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
    """test_pinball, test_pinball/CMIG4.SA, test_pinball_garch/CMIG4.SA, ..."""
    flat = {}
    for ticker, m in metrics.items():
        suffix = "" if ticker == OVERALL else f"/{ticker}"
        values = {k: v for k, v in m.model_dump(exclude={"baselines"}).items()}
        for name, baseline in m.baselines.items():
            values.update({f"{k}_{name}": v for k, v in baseline.model_dump().items()})
        for key, value in values.items():
            if value is not None and np.isfinite(value):
                flat[f"{split}_{key}{suffix}"] = float(value)
    return flat


def record(
    data: PriceData,
    settings: Settings,
    prepared: Prepared,
    fitted: Fitted,
    scores: Scores,
    test: Scored,
) -> str:
    """Log params, metrics, the test plots, the drift baseline and the model; returns its URI."""
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
    label = "synthetic data" if data.synthetic else data.source
    with tempfile.TemporaryDirectory() as tmp:
        for plot in report_plots(test, Path(tmp), f"test period, {label}"):
            mlflow.log_artifact(str(plot), "plots")
    mlflow.log_dict({k: v.to_dict() for k, v in prepared.baselines.items()}, "drift_baseline.json")
    mlflow.log_dict(_ranges(data, prepared), "data_ranges.json")
    return registry.log_bundle(fitted.bundle)


def _ranges(data: PriceData, prepared: Prepared) -> dict[str, dict[str, str]]:
    """split -> ticker -> 'first..last' target date."""
    return {
        split: {t: w.for_ticker(t).span() for t in data.frames}
        for split, w in prepared.splits.items()
    }


GATE_TOLERANCE = 0.002  # relative: 0.2% worse on one figure is within seed noise
RULE = (
    "rule: promote when neither figure is more than 0.2% worse and the two gains add up to "
    "more than zero; a tie keeps the current model"
)


def trained_on(data: PriceData, prepared: Prepared) -> TrainedOn:
    """The source kind, tickers and training target dates, recorded with the model."""
    train_dates = prepared.splits["train"].target_date
    return TrainedOn(
        source_kind=data.kind,
        tickers=list(data.frames),
        start=train_dates.min().astype(date),
        end=train_dates.max().astype(date),
    )


def target_alias(settings: Settings, lineage: TrainedOn) -> str:
    """Models of synthetic prices go to their own alias, never to the champion."""
    return settings.mlflow.synthetic_alias if lineage.synthetic else settings.mlflow.champion_alias


def _gain(new: float, old: float) -> float:
    return 1.0 - new / old if old else 0.0


def decide_promotion(
    settings: Settings,
    valid: WindowSet,
    new_valid: MetricSet,
    override: bool | None,
    lineage: TrainedOn,
) -> tuple[str | None, str]:
    """The alias the new model takes (None: none), and one line saying why.

    Forced by --promote, it becomes the champion whatever it was trained on. Otherwise it
    competes for its own alias (`synthetic` for synthetic prices): it takes it when there is
    none, when the holder cannot score these windows, or when it wins on `valid`. A holder
    trained on another source kind is never replaced without --promote.

    Winning weighs the distribution and the point alike: on the same validation windows,
    neither its pinball loss nor its MASE may be more than 0.2% worse than the holder's, and
    its relative gains on the two must add up to more than zero.
    """
    if override is not None:
        if override:
            return settings.mlflow.champion_alias, "promoted: forced by --promote"
        return None, "not promoted: kept out by --no-promote"
    alias = target_alias(settings, lineage)
    try:
        holder = Predictor.load(settings, alias)
    except LookupError:
        return alias, f"promoted to {alias}: there was no {alias} yet"
    held = holder.trained_on
    if held is not None and held.source_kind != lineage.source_kind:
        return None, (
            f"not promoted: {alias} v{holder.version} was trained on {held.source_kind} prices "
            f"and this model on {lineage.source_kind}; promote across source kinds with "
            "--promote"
        )
    if holder.window != valid.closes.shape[1]:
        return alias, (
            f"promoted to {alias}: v{holder.version} reads {holder.window}-close windows, "
            "so it cannot score these"
        )
    old = report_metrics(forecast_windows(holder.forecaster, valid), {})[OVERALL]
    pinball_gain = _gain(float(new_valid.pinball), float(old.pinball))  # type: ignore[arg-type]
    mase_gain = _gain(new_valid.mase, old.mase)
    wins = min(pinball_gain, mase_gain) >= -GATE_TOLERANCE and pinball_gain + mase_gain > 0.0
    figures = (
        f"validation pinball {new_valid.pinball:.6g} vs {old.pinball:.6g} "
        f"({pinball_gain:+.2%} better), MASE {new_valid.mase:.6g} vs {old.mase:.6g} "
        f"({mase_gain:+.2%} better), against {alias} v{holder.version} on the same "
        f"{old.n} windows; {RULE}"
    )
    if wins:
        return alias, f"promoted to {alias}: {figures}"
    return None, f"not promoted, {alias} v{holder.version} stays: {figures}"


def register(
    settings: Settings,
    run: ActiveRun,
    model_uri: str,
    alias: str | None,
    reason: str,
    lineage: TrainedOn,
) -> str:
    """A new registered version tagged with what it was trained on; `alias` moves to it.
    A synthetic model forced to champion keeps the synthetic alias too."""
    name = settings.mlflow.model_name
    version = registry.register(model_uri, name, run.info.run_id, lineage)
    client = registry.connect(settings.mlflow)
    aliases = {alias} if alias else set()
    if alias and lineage.synthetic:
        aliases.add(settings.mlflow.synthetic_alias)
    for each in sorted(aliases):
        registry.set_alias(client, name, each, version)
    promoted = settings.mlflow.champion_alias in aliases
    mlflow.set_tags(
        {
            "promoted": registry.flag(promoted),
            "promotion_reason": reason,
            **registry.trained_on_tags(lineage),
        }
    )
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
        scores, scored = score(fitted.bundle, prepared, data, settings)
        model_uri = record(data, settings, prepared, fitted, scores, scored["test"])
        lineage = trained_on(data, prepared)
        alias, reason = decide_promotion(
            settings, prepared.splits["valid"], scores["valid"][OVERALL], promote, lineage
        )
        version = register(settings, run, model_uri, alias, reason, lineage)
    ranges = _ranges(data, prepared)
    return TrainResult(
        run_id=run.info.run_id,
        model_name=settings.mlflow.model_name,
        model_version=version,
        promoted=alias == settings.mlflow.champion_alias,
        alias=alias,
        promotion_reason=reason,
        trained_on=lineage,
        epochs=fitted.epochs,
        best_val_loss=fitted.best_loss,
        train_seconds=fitted.seconds,
        source=data.source,
        synthetic=data.synthetic,
        ranges={t: {split: ranges[split][t] for split in SPLITS} for t in data.frames},
        metrics=scores["test"],
        validation=scores["valid"],
    )
