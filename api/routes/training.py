"""POST /train (202, or 409 while a job runs) and GET /train/{job_id}."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import ValidationError

from api.deps import AdminDep, StateDep
from api.errors import describe
from api.jobs import JobConflict
from schemas.api import TrainJob, TrainRequest
from tickcast.config import ModelSettings

router = APIRouter(prefix="/train", tags=["training"])


def _hyperparameters(base: ModelSettings, body: TrainRequest) -> ModelSettings:
    overrides = body.hyperparameters.model_dump(exclude_none=True)
    try:
        return ModelSettings.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        problems = describe(exc.errors())
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"hyperparameters: {problems}"
        ) from exc


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TrainJob)
async def create_training_job(
    body: TrainRequest, _: AdminDep, state: StateDep, request: Request
) -> TrainJob:
    """Train in a separate process; the champion moves only if the new model beats it."""
    model = _hyperparameters(state.next_run, body)
    try:
        return request.app.state.jobs.start(state.settings, model, body)
    except JobConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.get("/{job_id}", response_model=TrainJob)
async def read_training_job(job_id: str, request: Request) -> TrainJob:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no training job {job_id!r}")
    return job
