"""Factories shared by tests: settings on a temporary store, and frames with known structure."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import Settings
from producers.calendar import trading_days
from producers.sources import PriceData
from schemas.prices import LoadReport

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

TINY_MODEL = {"hidden_size": 8, "num_layers": 1, "max_epochs": 2, "patience": 2, "batch_size": 64}


@functools.cache
def _empty_store() -> Path:
    """An MLflow sqlite file with its tables made, once per test process: a new store runs
    every one of MLflow's schema migrations, seconds of each test that makes one."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = Path(tempfile.mkdtemp(prefix="tickcast-empty-store-"))
    atexit.register(shutil.rmtree, folder, True)
    store = SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", (folder / "unused").as_uri())
    store.engine.dispose()  # nothing left open while it is copied
    return folder / "mlflow.db"


def seed_store(root: Path) -> None:
    """Unless `root` holds an MLflow store, start one there as a copy of an empty one: the
    tables MLflow would make, without running its migrations again."""
    database = root / "mlflow.db"
    if not database.exists():
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_empty_store(), database)


def make_settings(root: Path, **model: object) -> Settings:
    """Settings whose MLflow store (seeded, see `seed_store`) and caches live under `root`."""
    seed_store(root)
    return Settings(
        data={"dir": root},
        mlflow={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"},
        model={**TINY_MODEL, **model},
    )


def ar1_frame(
    n: int = 900, phi: float = 0.6, vol: float = 0.015, seed: int = 0, start: str = "2015-01-02"
) -> pd.DataFrame:
    """Closes whose log returns follow an AR(1): a signal a working model must learn."""
    rng = np.random.default_rng(seed)
    returns = np.zeros(n)
    noise = rng.normal(0.0, vol, n)
    for i in range(1, n):
        returns[i] = phi * returns[i - 1] + noise[i]
    close = 20.0 * np.exp(np.cumsum(returns))
    days = trading_days(pd.Timestamp(start).date(), pd.Timestamp("2030-12-31").date())[:n]
    return pd.DataFrame(
        {
            "date": days,
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": np.full(n, 1e6),
        }
    )


def price_data(frames: dict[str, pd.DataFrame], source: str = "test") -> PriceData:
    reports = {
        t: LoadReport(ticker=t, source=source, origin="factory", rows_in=len(f), rows_out=len(f))
        for t, f in frames.items()
    }
    return PriceData(source=source, kind=source, frames=frames, reports=reports)


def stand_in_bundle(
    window: int,
    baselines: dict,
    hidden_size: int = 8,
    seed: int = 0,
    trained: bool = True,
    mean: float = 0.0,
):
    """A bundle without training: a random head that reads its whole window (or the untrained
    zero head), and a calibration of standard normal residuals, so it can forecast."""
    import torch

    from model.bundle import Calibration
    from model.features import ReturnScaler
    from model.trainable import TrainableBundle

    torch.manual_seed(seed)
    trainable = TrainableBundle.build(
        window, hidden_size, 1, 0.0, ReturnScaler(mean, 0.02), baselines
    )
    if trained:
        with torch.no_grad():
            trainable.net.location.weight.normal_(0.0, 0.5)
            trainable.net.location.bias.fill_(0.05)
            trainable.net.scale.weight.normal_(0.0, 0.2)
    residuals = np.sort(np.random.default_rng(seed).standard_normal(999))
    return trainable.serving(Calibration(1.0, residuals, residuals * 1.1))
