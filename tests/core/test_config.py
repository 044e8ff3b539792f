"""Settings: one object, TICKCAST_ prefix, nested sections, MLflow store resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import Settings


def test_defaults_put_mlflow_in_sqlite_under_the_data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TICKCAST_DATA__DIR", str(tmp_path))
    settings = Settings()
    assert settings.mlflow.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.mlflow.artifact_location == (tmp_path / "mlartifacts").as_uri()
    assert settings.model.window == 60 and settings.mlflow.model_name == "tickcast-lstm"


def test_mlflow_tracking_uri_overrides_the_default(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = Settings()
    assert settings.mlflow.tracking_uri == "http://mlflow:5000"
    assert settings.mlflow.artifact_location == ""  # the server decides


def test_nested_env_variables(monkeypatch) -> None:
    monkeypatch.setenv("TICKCAST_MODEL__HIDDEN_SIZE", "128")
    monkeypatch.setenv("TICKCAST_DRIFT__KS_ALPHA", "0.01")
    monkeypatch.setenv("TICKCAST_DATA__DEFAULT_TICKERS", '["PETR4.SA","VALE3.SA"]')
    settings = Settings()
    assert settings.model.hidden_size == 128
    assert settings.drift.ks_alpha == 0.01
    assert settings.data.default_tickers == ("PETR4.SA", "VALE3.SA")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TICKCAST_MODEL__DROPOUT", "1.5"),
        ("TICKCAST_MODEL__TRAIN_FRACTION", "0.9"),
        ("TICKCAST_DATA__CLOSE_COLUMN", "open"),
    ],
)
def test_invalid_values_are_rejected(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.model.hidden_size = 3  # type: ignore[misc]
    assert isinstance(settings.data.dir, Path)
