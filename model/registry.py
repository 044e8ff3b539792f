"""MLflow in and out: the tracking store, model logging, the registry and the champion alias.

MLflow (1.3 s and 170 MB at import) loads when a function here first reads or writes the
registry, not with this module: serving processes use its pure helpers without it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import MlflowSettings
from model.errors import ModelNotFoundError
from schemas.messages import TrainedOn

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from model.bundle import ModelBundle

logger = logging.getLogger(__name__)

PYFUNC_CODE = Path(__file__).with_name("pyfunc.py")
MODEL_ARTIFACT = "model"
BUNDLE_ARTIFACT = "bundle"
PIP_REQUIREMENTS = ["tickcast", "onnxruntime", "numpy", "scipy"]


def flag(value: bool) -> str:
    """The one way a yes/no is written into MLflow params and tags."""
    return "true" if value else "false"


def read_flag(value: str | None) -> bool:
    """Reads `flag`'s output, and the "True" that older runs wrote."""
    return (value or "").strip().lower() == "true"


def connect(settings: MlflowSettings) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists."""
    import mlflow
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.tracking_uri.startswith("sqlite:///"):
        Path(settings.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    _create_experiment(client, settings, settings.experiment)
    mlflow.set_experiment(settings.experiment)
    return client


def _create_experiment(client: MlflowClient, settings: MlflowSettings, name: str) -> None:
    """Created beside the models' artifacts, not in the cwd's ./mlruns, where MLflow puts an
    experiment created without a location."""
    if client.get_experiment_by_name(name) is None:
        client.create_experiment(name, artifact_location=settings.artifact_location or None)


@contextmanager
def experiment(settings: MlflowSettings, name: str) -> Iterator[MlflowClient]:
    """Runs started inside go to experiment `name`; the configured one is back after, always."""
    import mlflow

    client = connect(settings)
    _create_experiment(client, settings, name)
    mlflow.set_experiment(name)
    try:
        yield client
    finally:
        mlflow.set_experiment(settings.experiment)


def log_bundle(bundle: ModelBundle) -> str:
    """Log the bundle as a pyfunc model in the active run; returns its model URI. The bundle
    carries its network as ONNX (model.onnx), which is what every tickcast process serves."""
    import mlflow.pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        path = bundle.save(Path(tmp) / BUNDLE_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(PYFUNC_CODE),
            artifacts={BUNDLE_ARTIFACT: str(path)},
            pip_requirements=PIP_REQUIREMENTS,
        )
    return info.model_uri


# What a version was trained on, as registry tags on the version and on its run.
TRAINED_ON_TAGS = {
    "source_kind": "trained_source_kind",
    "tickers": "trained_tickers",
    "start": "trained_start",
    "end": "trained_end",
}


def trained_on_tags(trained_on: TrainedOn) -> dict[str, str]:
    values = trained_on.model_dump(mode="json")
    values["tickers"] = ",".join(trained_on.tickers)
    return {tag: str(values[field] or "") for field, tag in TRAINED_ON_TAGS.items()}


def read_trained_on(tags: dict[str, str], params: dict[str, str]) -> TrainedOn | None:
    """From a version's tags; for versions registered before they existed, from the run's
    params (data_source, tickers, train_range). None when neither says."""
    if tags.get(TRAINED_ON_TAGS["source_kind"]):
        fields = {field: tags.get(tag) or None for field, tag in TRAINED_ON_TAGS.items()}
        fields["tickers"] = [t for t in (fields["tickers"] or "").split(",") if t]
        return TrainedOn.model_validate(fields)
    source, tickers = params.get("data_source"), params.get("tickers")
    if not source or not tickers:
        return None
    start, _, end = params.get("train_range", "").partition("..")
    return TrainedOn(
        source_kind=source.partition(":")[0].strip().lower(),
        tickers=tickers.split(","),
        start=start or None,
        end=end or None,
    )


def register(model_uri: str, name: str, run_id: str, trained_on: TrainedOn | None = None) -> str:
    """A new version of the registered model `name`, tagged with what it was trained on;
    returns the version number."""
    import mlflow

    tags = {"run_id": run_id, **(trained_on_tags(trained_on) if trained_on else {})}
    version = mlflow.register_model(model_uri, name, tags=tags)
    return str(version.version)


def find_version(client: MlflowClient, name: str, ref: str) -> ModelVersion:
    """A version number ('3') or an alias ('champion') to its ModelVersion."""
    from mlflow.exceptions import MlflowException

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
    from mlflow.exceptions import MlflowException

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
    trained_on: TrainedOn | None = None


def fetch(client: MlflowClient, name: str, ref: str) -> FetchedModel:
    """Download (or open, for a local store) a registered model and its run's records."""
    import mlflow.artifacts

    from model.bundle import NETWORK, ModelBundle  # ONNX Runtime: not for reading the registry

    version = find_version(client, name, ref)
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version.version}",
            tracking_uri=client.tracking_uri,
        )
    )
    path = local / "artifacts" / BUNDLE_ARTIFACT
    exported = not (path / NETWORK).is_file()  # registered before the ONNX export existed
    bundle = ModelBundle.load(path)
    if exported:
        keep_network(client, version, bundle)
    run = client.get_run(version.run_id) if version.run_id else None
    params = dict(run.data.params) if run else {}
    return FetchedModel(
        bundle=bundle,
        version=version,
        params=params,
        metrics=dict(run.data.metrics) if run else {},
        trained_at=datetime.fromtimestamp(run.info.start_time / 1000, UTC) if run else None,
        tags={
            k: v for k, v in (run.data.tags if run else {}).items() if not k.startswith("mlflow.")
        },
        trained_on=read_trained_on(dict(version.tags or {}), params),
    )


def keep_network(client: MlflowClient, version: ModelVersion, bundle: ModelBundle) -> None:
    """Store the ONNX network that loading exported with the registered model, so later loads
    find it. A store that refuses (read-only, or a run-logged model) costs an export per load."""
    from mlflow.exceptions import MlflowException

    from model.bundle import NETWORK

    source = version.source or ""
    model_id = version.model_id or (
        source.removeprefix("models:/") if source.startswith("models:/m-") else None
    )
    where = f"{version.name} v{version.version}"
    if not model_id:
        logger.warning("%s: its exported ONNX network cannot be stored (source %s)", where, source)
        return
    try:
        with tempfile.TemporaryDirectory() as tmp:
            network = Path(tmp) / NETWORK
            network.write_bytes(bundle.network.model)
            client.log_model_artifact(model_id, str(network), f"artifacts/{BUNDLE_ARTIFACT}")
    except (MlflowException, OSError) as exc:
        logger.warning("%s: could not store its exported ONNX network: %s", where, exc)


def trained_on_of(client: MlflowClient, name: str, ref: str) -> TrainedOn | None:
    """What version or alias `ref` was trained on, without downloading the model."""
    version = find_version(client, name, ref)
    run = client.get_run(version.run_id) if version.run_id else None
    return read_trained_on(dict(version.tags or {}), dict(run.data.params) if run else {})
