"""Training as a plain function: data in, a registered (maybe promoted) model and metrics out.

The CLI, the API's training job and the tests all call `train`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import lightning as L
import mlflow
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import MLFlowLogger

from model import registry
from model.bundle import ModelBundle
from model.datamodule import WindowDataModule
from model.drift import ReturnBaseline, build_baselines
from model.errors import NotEnoughDataError, TrainingError
from model.evaluation import OVERALL, score_by_ticker
from model.features import ReturnScaler
from model.module import ForecastModule
from model.plots import forecast_plot
from model.predictor import Predictor
from model.windows import SPLITS, WindowSet, concat, make_windows, split_windows
from producers.sources import PriceData
from schemas.metrics import MetricSet, TrainResult
from tickcast.config import ModelSettings, Settings

logger = logging.getLogger(__name__)

EpochHook = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class Prepared:
    splits: dict[str, WindowSet]
    scaler: ReturnScaler
    baselines: dict[str, ReturnBaseline]


def prepare(
    data: PriceData, hp: ModelSettings, valid_start: date | None, test_start: date | None
) -> Prepared:
    """Windows, their chronological split, and statistics fit on the training split only."""
    sets = [make_windows(frame, ticker, hp.window) for ticker, frame in data.frames.items()]
    short = [t for t, s in zip(data.frames, sets, strict=True) if len(s) == 0]
    if short:
        raise NotEnoughDataError(f"fewer than {hp.window + 1} closes for {', '.join(short)}")
    try:
        splits = split_windows(
            concat(sets),
            train_fraction=hp.train_fraction,
            valid_fraction=hp.valid_fraction,
            valid_start=valid_start,
            test_start=test_start,
        )
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    empty = [name for name in SPLITS if len(splits[name]) == 0]
    if empty:
        raise NotEnoughDataError(f"the {', '.join(empty)} split is empty; check the dates")
    train = splits["train"]
    scaler = ReturnScaler.fit(np.log(train.target / train.last))
    # Baselines use every close up to each ticker's last training target.
    closes = {}
    for ticker, frame in data.frames.items():
        last_train = train.for_ticker(ticker).target_date.max()
        closes[ticker] = frame.loc[
            frame["date"] <= last_train.astype("datetime64[ns]"), "close"
        ].to_numpy()
    return Prepared(splits, scaler, build_baselines(closes))


class _EpochReporter(Callback):
    """Forwards per-epoch losses to a hook (the API job's progress)."""

    def __init__(self, hook: EpochHook) -> None:
        self.hook = hook

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        losses = {k: float(v) for k, v in trainer.callback_metrics.items()}
        self.hook(trainer.current_epoch + 1, losses)


def fit(
    prepared: Prepared,
    hp: ModelSettings,
    run_id: str,
    settings: Settings,
    progress: bool,
    on_epoch: EpochHook | None,
) -> tuple[ModelBundle, int, float]:
    """Lightning training with early stopping; returns the best bundle, epochs run, best loss."""
    L.seed_everything(hp.seed, workers=True, verbose=False)
    bundle = ModelBundle.build(
        hp.window, hp.hidden_size, hp.num_layers, hp.dropout, prepared.scaler, prepared.baselines
    )

    def optimizer(params: object) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=hp.learning_rate, weight_decay=hp.weight_decay)

    module = ForecastModule(bundle.net, optimizer)
    datamodule = WindowDataModule(prepared.splits, prepared.scaler, hp.batch_size, hp.seed)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = ModelCheckpoint(dirpath=tmp, monitor="val_loss", mode="min", save_top_k=1)
        callbacks: list[Callback] = [EarlyStopping("val_loss", patience=hp.patience), checkpoint]
        if progress:
            callbacks.append(RichProgressBar(console_kwargs={"stderr": True}))
        if on_epoch:
            callbacks.append(_EpochReporter(on_epoch))
        trainer = L.Trainer(
            max_epochs=hp.max_epochs,
            accelerator="cpu",
            devices=1,
            deterministic=True,
            callbacks=callbacks,
            enable_progress_bar=progress,
            enable_model_summary=False,
            logger=MLFlowLogger(tracking_uri=settings.mlflow.tracking_uri, run_id=run_id),
            default_root_dir=tmp,
            num_sanity_val_steps=0,
            log_every_n_steps=1,
        )
        trainer.fit(module, datamodule=datamodule)
        state = torch.load(checkpoint.best_model_path, weights_only=True)["state_dict"]
        module.load_state_dict(state)
        best = float(checkpoint.best_model_score)
    return bundle, trainer.current_epoch, best


def _log_metrics(split: str, metrics: dict[str, MetricSet]) -> None:
    flat = {}
    for ticker, m in metrics.items():
        suffix = "" if ticker == OVERALL else f"/{ticker}"
        for key, value in m.model_dump().items():
            if np.isfinite(value):
                flat[f"{split}_{key}{suffix}"] = float(value)
    mlflow.log_metrics(flat)


def _params(data: PriceData, hp: ModelSettings, prepared: Prepared) -> dict[str, str]:
    params = {k: str(v) for k, v in hp.model_dump().items()}
    params.update(
        data_source=data.source,
        synthetic=str(data.synthetic),
        tickers=",".join(data.frames),
        scaler_mean=f"{prepared.scaler.mean:.6g}",
        scaler_std=f"{prepared.scaler.std:.6g}",
    )
    for name, windows in prepared.splits.items():
        params[f"{name}_range"] = windows.span()
        params[f"{name}_windows"] = str(len(windows))
    return params


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
    hp = settings.model
    prepared = prepare(data, hp, valid_start, test_start)
    client = registry.connect(settings.mlflow)
    name = settings.mlflow.model_name
    tags = {"data_source": data.source, "synthetic": str(data.synthetic).lower()}
    with mlflow.start_run(tags=tags) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(_params(data, hp, prepared))
        started = time.perf_counter()
        bundle, epochs, best_loss = fit(prepared, hp, run.info.run_id, settings, progress, on_epoch)
        seconds = time.perf_counter() - started
        scores = {}
        for split in ("valid", "test"):
            windows = prepared.splits[split]
            predicted = bundle.predict_prices(windows.closes)
            scores[split] = score_by_ticker(windows, predicted)
            _log_metrics(split, scores[split])
        mlflow.log_metrics({"epochs": epochs, "best_val_loss": best_loss, "train_seconds": seconds})
        test = prepared.splits["test"]
        label = "synthetic data" if data.synthetic else data.source
        plot = forecast_plot(
            test,
            bundle.predict_prices(test.closes),
            Path(tmp) / "test_forecast.png",
            f"test period, {label}",
        )
        mlflow.log_artifact(str(plot))
        baseline = {k: v.to_dict() for k, v in prepared.baselines.items()}
        mlflow.log_dict(baseline, "drift_baseline.json")
        ranges = {
            split: {t: w.for_ticker(t).span() for t in data.frames}
            for split, w in prepared.splits.items()
        }
        mlflow.log_dict(ranges, "data_ranges.json")
        model_uri = registry.log_bundle(bundle)
        promoted, reason = decide_promotion(
            settings, prepared.splits["valid"], scores["valid"][OVERALL], promote
        )
        version = registry.register(model_uri, name, run.info.run_id)
        if promoted:
            registry.set_alias(client, name, settings.mlflow.champion_alias, version)
        mlflow.set_tags({"promoted": str(promoted).lower(), "promotion_reason": reason})
        logger.info("model %s v%s: %s", name, version, reason)
    by_ticker = {t: {split: ranges[split][t] for split in SPLITS} for t in data.frames}
    return TrainResult(
        run_id=run.info.run_id,
        model_name=name,
        model_version=version,
        promoted=promoted,
        promotion_reason=reason,
        epochs=epochs,
        best_val_loss=best_loss,
        train_seconds=seconds,
        source=data.source,
        synthetic=data.synthetic,
        ranges=by_ticker,
        test=scores["test"],
        validation=scores["valid"],
    )
