"""Which model `up` serves for the prices it is about to replay, training one when needed.

A model serves prices it has seen the like of: a real source gets the champion when it was
trained on real prices of every ticker served; synthetic prices get the `synthetic` alias.
Otherwise a model is trained on these prices first, and that one is served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.config import MlflowSettings, Settings
from model.errors import ModelNotFoundError
from model.fetch import cache_root, read_record, unchanged
from model.registry import alias_version, connect, read_trained_on, trained_on_of
from producers.sources import PriceData
from schemas.messages import TrainedOn

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from model.fitting import EpochHook


@dataclass(frozen=True)
class ServingChoice:
    """The model to serve, and the line that says why."""

    ref: str  # what the worker and API serve: the alias when it holds the model, else a version
    version: str
    trained_on: TrainedOn | None
    trained: bool  # trained by this call
    line: str  # one line for the screen
    warning: bool = False  # serving a model that never saw prices like these (--no-retrain)


def alias_for(mlflow: MlflowSettings, data: PriceData) -> str:
    """The alias that serves prices like `data`: synthetic prices never get the champion."""
    return mlflow.synthetic_alias if data.synthetic else mlflow.champion_alias


def mismatch(trained_on: TrainedOn | None, data: PriceData) -> str | None:
    """Why a model trained on `trained_on` should not serve `data`, or None when it may."""
    if trained_on is None:
        return "its training data is not recorded"
    if trained_on.synthetic != data.synthetic:
        return f"it was trained on {trained_on.describe()}, and these prices are {data.kind}"
    missing = [t for t in data.frames if t not in trained_on.tickers]
    if missing:
        return f"it never saw {', '.join(missing)} (trained on {trained_on.describe()})"
    return None


def newest_fit(client: MlflowClient, name: str, data: PriceData) -> tuple[str, TrainedOn] | None:
    """The newest version trained on prices like `data`, whatever its aliases: a model `up`
    trained earlier for these prices, which could not take an alias, serves again."""
    versions = sorted(
        client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version), reverse=True
    )
    for version in versions:
        lineage = read_trained_on(dict(version.tags or {}), {})
        if lineage is not None and mismatch(lineage, data) is None:
            return str(version.version), lineage
    return None


def _fitting(alias: str, version: str, held: TrainedOn) -> ServingChoice:
    return ServingChoice(
        alias, version, held, False, f"serving {alias} v{version}, trained on {held.describe()}"
    )


def cached_choice(settings: Settings, data: PriceData) -> ServingChoice | None:
    """`choose_model`'s answer when the alias's model fits these prices and the local model
    cache can vouch that the alias still names it (the store is unchanged since it did,
    `model.fetch.unchanged`): read from the cache, with no MLflow to import. None: ask the
    registry."""
    alias = alias_for(settings.mlflow, data)
    folder = unchanged(settings.mlflow, cache_root(settings), alias)
    if folder is None:
        return None
    record = read_record(folder)
    if record.trained_on is None or mismatch(record.trained_on, data) is not None:
        return None
    return _fitting(alias, record.version, record.trained_on)


def choose_model(
    settings: Settings,
    data: PriceData,
    *,
    retrain: bool = True,
    say: Callable[[str], None] = lambda _: None,
    progress: bool = True,
    on_epoch: EpochHook | None = None,
    before_training: Callable[[], None] = lambda: None,
) -> ServingChoice:
    """Serve the alias for these prices (`synthetic` or the champion) when it fits them;
    otherwise train on them, saying why first, and serve what was trained (by its alias if
    it took it, else by version). A version trained earlier on prices like these serves
    before anything is trained again. With `retrain=False`, keep a misfit and warn.
    `before_training` runs just before torch and Lightning load (the caller quiets them)."""
    mlflow = settings.mlflow
    alias = alias_for(mlflow, data)
    client = connect(mlflow)
    version = alias_version(client, mlflow.model_name, alias)
    if version is not None:
        held = trained_on_of(client, mlflow.model_name, version)
        why = mismatch(held, data)
        if why is None and held is not None:
            return _fitting(alias, version, held)
        reason = f"{alias} v{version} does not fit: {why}"
    else:
        reason = f"no {alias} model yet"
    if found := newest_fit(client, mlflow.model_name, data):
        fit, lineage = found
        line = f"serving v{fit}, trained on {lineage.describe()} ({reason})"
        return ServingChoice(fit, fit, lineage, False, line)
    if not retrain:
        if version is None:
            raise ModelNotFoundError(
                f"no {alias} model of {mlflow.model_name} yet, and --no-retrain forbids "
                "training one; drop --no-retrain, or train one with `tickcast train`"
            )
        line = f"--no-retrain: serving {alias} v{version} although {why}"
        return ServingChoice(alias, version, held, False, line, warning=True)
    say(f"{reason}: training one on {', '.join(data.frames)} ({data.kind} prices)")
    before_training()
    from model.training import train  # torch and Lightning: only when training

    result = train(data, settings, progress=progress, on_epoch=on_epoch)
    ref = result.alias if result.alias == alias else result.model_version
    return ServingChoice(
        ref,
        result.model_version,
        result.trained_on,
        True,
        f"serving v{result.model_version}, trained now; {result.promotion_reason}",
    )
