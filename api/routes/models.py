"""Model info, reload, and the hyperparameters of the next training run."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, status
from pydantic import ValidationError

from api.deps import AdminDep, PredictorDep, StateDep
from api.errors import describe
from model.errors import ModelNotFoundError
from schemas.api import Hyperparameters, ModelInfo
from tickcast.config import ModelSettings

router = APIRouter(tags=["models"])


@router.get("/model/info", response_model=ModelInfo)
async def read_model_info(predictor: PredictorDep) -> ModelInfo:
    params = predictor.params
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
        synthetic=params.get("synthetic") == "True",
        ranges=ranges,
        trained_at=predictor.trained_at,
    )


@router.post("/model/reload", response_model=ModelInfo)
async def reload_model(_: AdminDep, state: StateDep) -> ModelInfo:
    """Load the current champion now."""
    try:
        predictor = await asyncio.to_thread(state.load)
    except ModelNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return await read_model_info(predictor)


@router.get("/config", response_model=ModelSettings)
async def read_config(state: StateDep) -> ModelSettings:
    """Hyperparameters the next POST /train starts from."""
    return state.next_run


@router.post("/config", response_model=ModelSettings)
async def update_config(body: Hyperparameters, _: AdminDep, state: StateDep) -> ModelSettings:
    try:
        state.next_run = ModelSettings.model_validate(
            {**state.next_run.model_dump(), **body.model_dump(exclude_none=True)}
        )
    except ValidationError as exc:
        problems = describe(exc.errors())
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems) from exc
    return state.next_run
