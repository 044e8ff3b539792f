"""API fixtures: one tiny champion per session, settings on it (or on an empty store), clients."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.config import ApiSettings, Settings
from model.training import train
from producers.sources import load_prices
from tests.utils.factories import make_settings

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JOB_TIMEOUT_S = 120.0
TINY_JOB = {
    "source": "synthetic",
    "tickers": ["AAA"],
    "end": "2019-12-31",
    "hyperparameters": {"max_epochs": 2, "hidden_size": 8},
}
UNUSABLE_JOB = {**TINY_JOB, "source": "csv:AAA.csv"}  # fails as it reads its prices


def unusable_prices(tmp_path: Path) -> Path:
    """A training-data folder whose AAA.csv has no date column: a job on it fails at once,
    before the child imports torch, for tests about the API rather than the training."""
    data = tmp_path / "train-data"
    data.mkdir()
    (data / "AAA.csv").write_text("when,close\n2024-01-02,10.0\n")
    return data


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here talks to Kafka: the app must never see a bootstrap server."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)


def train_tiny_champion(root: Path) -> Settings:
    """Train version 1 of a tiny model on synthetic AAA into the store at `root`, as the
    champion, with no setting from this shell's environment; returns the store's settings."""
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("TICKCAST_", "KAFKA_", "MLFLOW_"))]:
            env.delenv(name)
        settings = make_settings(root, max_epochs=2, hidden_size=8)
        data = load_prices(
            "synthetic", ["AAA"], settings.data, date(2018, 1, 2), date(2019, 12, 31)
        )
        # Synthetic prices never make a champion by themselves: this one is forced.
        result = train(data, settings, progress=False, promote=True)
    assert (result.model_version, result.promoted) == ("1", True)
    return settings


@pytest.fixture(scope="session")
def champion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one tiny champion (version 1), trained once; tests only read it."""
    root = tmp_path_factory.mktemp("api-champion")
    train_tiny_champion(root)
    return root


@pytest.fixture
def settings_for(champion_root: Path, tmp_path: Path) -> Callable[..., Settings]:
    """Settings on the shared champion store (or an empty one), with the token by default."""

    def build(
        *, token: str | None = TOKEN, empty: bool = False, serve: str = "", **api: object
    ) -> Settings:
        root = tmp_path / f"empty-{len(list(tmp_path.glob('empty-*')))}" if empty else champion_root
        settings = make_settings(root, max_epochs=2, hidden_size=8)
        assert settings.kafka.bootstrap_servers == ""
        mlflow = settings.mlflow.model_copy(update={"serve": serve})
        # Jobs run at the API's own priority: beside the other test workers on a busy CI
        # machine, a niced one got too little CPU to finish in JOB_TIMEOUT_S.
        api = {"training_nice": 0, **api}
        return settings.model_copy(
            update={"api": ApiSettings(token=token, **api), "mlflow": mlflow}
        )

    return build


@pytest.fixture
def client_for(settings_for: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Started clients (lifespan run, champion loaded), closed after the test."""
    opened: list[TestClient] = []

    def start(settings: Settings | None = None, **kwargs: object) -> TestClient:
        client = TestClient(create_app(settings or settings_for(**kwargs)))
        client.__enter__()
        opened.append(client)
        return client

    yield start
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for: Callable[..., TestClient]) -> TestClient:
    """The app on the shared champion, with the token configured."""
    return client_for()


def wait_for_job(client: TestClient, job_id: str, timeout: float = JOB_TIMEOUT_S) -> dict:
    """Poll GET /train/{job_id} until the job is no longer running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/train/{job_id}", headers=AUTH).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"training job {job_id} still running after {timeout:.0f} s")
