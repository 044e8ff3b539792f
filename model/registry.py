"""MLflow in and out: the tracking store, model logging, the registry and the champion alias."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from core.config import MlflowSettings
from model.bundle import ModelBundle
from model.errors import ModelNotFoundError

logger = logging.getLogger(__name__)

PYFUNC_CODE = Path(__file__).with_name("pyfunc.py")
MODEL_ARTIFACT = "model"
BUNDLE_ARTIFACT = "bundle"
PIP_REQUIREMENTS = ["tickcast", "torch", "numpy", "scipy"]


def flag(value: bool) -> str:
    """The one way a yes/no is written into MLflow params and tags."""
    return "true" if value else "false"


def read_flag(value: str | None) -> bool:
    """Reads `flag`'s output, and the "True" that older runs wrote."""
    return (value or "").strip().lower() == "true"


def connect(settings: MlflowSettings) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.tracking_uri.startswith("sqlite:///"):
        Path(settings.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    if client.get_experiment_by_name(settings.experiment) is None:
        client.create_experiment(
            settings.experiment, artifact_location=settings.artifact_location or None
        )
    mlflow.set_experiment(settings.experiment)
    return client


@contextmanager
def experiment(settings: MlflowSettings, name: str) -> Iterator[MlflowClient]:
    """Runs started inside go to experiment `name`; the configured one is back after, always."""
    client = connect(settings)
    mlflow.set_experiment(name)
    try:
        yield client
    finally:
        mlflow.set_experiment(settings.experiment)


def log_bundle(bundle: ModelBundle) -> str:
    """Log the bundle as a pyfunc model in the active run; returns its model URI."""
    with tempfile.TemporaryDirectory() as tmp:
        path = bundle.save(Path(tmp) / BUNDLE_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(PYFUNC_CODE),
            artifacts={BUNDLE_ARTIFACT: str(path)},
            pip_requirements=PIP_REQUIREMENTS,
        )
    return info.model_uri


def register(model_uri: str, name: str, run_id: str) -> str:
    """A new version of the registered model `name`; returns the version number."""
    version = mlflow.register_model(model_uri, name, tags={"run_id": run_id})
    return str(version.version)


def find_version(client: MlflowClient, name: str, ref: str) -> ModelVersion:
    """A version number ('3') or an alias ('champion') to its ModelVersion."""
    try:
        if ref.isdigit():
            return client.get_model_version(name, ref)
        return client.get_model_version_by_alias(name, ref)
    except MlflowException as exc:
        kind = "version" if ref.isdigit() else "alias"
        raise ModelNotFoundError(
            f"no model {name!r} with {kind} {ref!r} in {client.tracking_uri}; "
            "train one with `tickcast train`"
        ) from exc


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version holding `alias`, or None when there is none yet."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    client.set_registered_model_alias(name, alias, version)
    logger.info("alias %s of %s now points at version %s", alias, name, version)


@dataclass(frozen=True)
class FetchedModel:
    bundle: ModelBundle
    version: ModelVersion
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    trained_at: datetime | None = None


def fetch(client: MlflowClient, name: str, ref: str) -> FetchedModel:
    """Download (or open, for a local store) a registered model and its run's records."""
    version = find_version(client, name, ref)
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version.version}",
            tracking_uri=client.tracking_uri,
        )
    )
    bundle = ModelBundle.load(local / "artifacts" / BUNDLE_ARTIFACT)
    run = client.get_run(version.run_id) if version.run_id else None
    return FetchedModel(
        bundle=bundle,
        version=version,
        params=dict(run.data.params) if run else {},
        metrics=dict(run.data.metrics) if run else {},
        trained_at=datetime.fromtimestamp(run.info.start_time / 1000, UTC) if run else None,
        tags={
            k: v for k, v in (run.data.tags if run else {}).items() if not k.startswith("mlflow.")
        },
    )
