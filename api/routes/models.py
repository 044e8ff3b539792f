"""Model info, reload, and the hyperparameters of the next training run."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AdminDep, PredictorDep, StateDep
from api.redact import public_params
from core.config import Hyperparameters
from model.registry import read_flag
from schemas.api import HyperparameterOverrides, ModelInfo

router = APIRouter(tags=["models"])


@router.get("/model/info", response_model=ModelInfo)
async def read_model_info(predictor: PredictorDep) -> ModelInfo:
    """What is served; a file source shows its name, never where it lies on the server."""
    params = public_params(predictor.params)
    ranges = {
        split: params[f"{split}_range"]
        for split in ("train", "valid", "test")
        if f"{split}_range" in params
    }
    return ModelInfo(
        name=predictor.name,
        version=predictor.version,
        aliases=list(predictor.aliases),
        run_id=predictor.run_id,
        params=params,
        metrics=predictor.metrics,
        data_source=params.get("data_source"),
        synthetic=read_flag(params.get("synthetic")),
        ranges=ranges,
        trained_at=predictor.trained_at,
        trained_on=predictor.trained_on,
    )


@router.post("/model/reload", response_model=ModelInfo)
async def reload_model(_: AdminDep, state: StateDep) -> ModelInfo:
    """Load the current champion now, one reload at a time and off the event loop; 404
    when the registry has none."""
    predictor = await state.reload()
    return await read_model_info(predictor)


@router.get("/config", response_model=Hyperparameters)
async def read_config(state: StateDep) -> Hyperparameters:
    """Hyperparameters the next POST /train starts from."""
    return state.next_run


@router.post("/config", response_model=Hyperparameters)
async def update_config(
    body: HyperparameterOverrides,  # type: ignore[valid-type]
    _: AdminDep,
    state: StateDep,
) -> Hyperparameters:
    """Change the hyperparameters the next POST /train starts from; 422 if out of range."""
    state.next_run = state.next_run.with_overrides(body.model_dump())
    return state.next_run
