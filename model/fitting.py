"""Data preparation and Lightning fitting: the two steps of training that know about torch."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import MLFlowLogger

from core.config import Hyperparameters
from model.bundle import Calibration, ModelBundle
from model.datamodule import WindowDataModule
from model.drift import ReturnBaseline, build_baselines
from model.errors import NotEnoughDataError, TrainingError
from model.features import ReturnScaler, returns_to_prices
from model.metrics import diebold_mariano
from model.module import ForecastModule
from model.trainable import TrainableBundle
from model.windows import SPLITS, WindowSet, concat, make_windows, split_windows
from producers.sources import PriceData

EpochHook = Callable[[int, dict[str, float]], None]
SHRINK_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
TRUST_P = 0.05  # the network's location is trusted only if it beats naive this clearly


@dataclass(frozen=True)
class Prepared:
    splits: dict[str, WindowSet]
    scaler: ReturnScaler
    baselines: dict[str, ReturnBaseline]


@dataclass(frozen=True)
class Fitted:
    bundle: ModelBundle
    epochs: int
    best_loss: float
    seconds: float


def prepare(
    data: PriceData, hp: Hyperparameters, valid_start: date | None, test_start: date | None
) -> Prepared:
    """Windows, their chronological split, and statistics fit on the training split only."""
    sets = [make_windows(frame, ticker, hp.window) for ticker, frame in data.frames.items()]
    short = [t for t, s in zip(data.frames, sets, strict=True) if len(s) == 0]
    if short:
        raise NotEnoughDataError(f"fewer than {hp.window + 1} closes for {', '.join(short)}")
    splits = split_windows(
        concat(sets),
        train_fraction=hp.train_fraction,
        valid_fraction=hp.valid_fraction,
        valid_start=valid_start,
        test_start=test_start,
    )
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
    hp: Hyperparameters,
    tracking_uri: str,
    run_id: str,
    progress: bool,
    on_epoch: EpochHook | None = None,
) -> Fitted:
    """Lightning training with early stopping and checkpoints; the best epoch's weights win."""
    started = time.perf_counter()
    L.seed_everything(hp.seed, workers=True, verbose=False)
    trainable = TrainableBundle.build(
        hp.window, hp.hidden_size, hp.num_layers, hp.dropout, prepared.scaler, prepared.baselines
    )

    def optimizer(params: object) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=hp.learning_rate, weight_decay=hp.weight_decay)

    module = ForecastModule(trainable.net, optimizer, hp.head)
    datamodule = WindowDataModule(
        prepared.splits, prepared.scaler, hp.batch_size, hp.seed, hp.close_only_share
    )
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
            logger=MLFlowLogger(tracking_uri=tracking_uri, run_id=run_id),
            default_root_dir=tmp,
            num_sanity_val_steps=0,
            log_every_n_steps=1,
        )
        trainer.fit(module, datamodule=datamodule)
        if not checkpoint.best_model_path:
            raise TrainingError(
                "training produced no checkpoint: the validation loss was never finite"
            )
        state = torch.load(checkpoint.best_model_path, weights_only=True)["state_dict"]
        module.load_state_dict(state)
        best = float(checkpoint.best_model_score)
    bundle = trainable.serving()  # exported to ONNX: calibrated and scored as it will serve
    bundle = bundle.calibrated(calibrate(bundle, prepared.splits["valid"]))
    return Fitted(bundle, trainer.current_epoch, best, time.perf_counter() - started)


def choose_shrink(last: np.ndarray, actual: np.ndarray, location: np.ndarray) -> float:
    """The weight w of the network's location in the point forecast last * exp(w * location).

    The w with the smallest absolute error on validation, but only if it beats naive (w = 0)
    with a one-sided Diebold-Mariano p below 0.05; otherwise 0, so the shipped point is
    never worse than "tomorrow = today" by more than chance allows.
    """
    naive = actual - last
    errors = {w: actual - returns_to_prices(last, w * location) for w in SHRINK_GRID}
    best = min(SHRINK_GRID, key=lambda w: (np.abs(errors[w]).mean(), w))
    if best == 0.0 or len(actual) < 3:
        return 0.0
    test = diebold_mariano(naive, errors[best], power=1, alternative="greater")
    return float(best) if test.pvalue < TRUST_P else 0.0


def calibrate(bundle: ModelBundle, valid: WindowSet) -> Calibration:
    """Split conformal on the validation split: residuals of the shipped point, in units of the
    predicted scale, once with each window's bars and once from its closes alone."""
    actual = np.log(valid.target / valid.last)
    ranged = bundle.predict_distribution(valid.closes, valid.bars)
    plain = bundle.predict_distribution(valid.closes)
    shrink = choose_shrink(valid.last, valid.target, ranged.location)
    return Calibration(
        shrink=shrink,
        ranged=np.sort((actual - shrink * ranged.location) / ranged.scale),
        close_only=np.sort((actual - shrink * plain.location) / plain.scale),
    )
