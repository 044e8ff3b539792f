"""POST /train (202, or 409 while a job runs) and GET /train/{job_id}."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from api.deps import AdminDep, StateDep
from schemas.api import TrainJob, TrainRequest

router = APIRouter(prefix="/train", tags=["training"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TrainJob)
async def create_training_job(
    body: TrainRequest, _: AdminDep, state: StateDep, request: Request
) -> TrainJob:
    """Train in a separate process; the champion moves only if the new model beats it.

    Bad hyperparameters are a 422 and a running job a 409 (the error tree maps both).
    """
    model = state.next_run.with_overrides(body.hyperparameters.model_dump())
    return request.app.state.jobs.start(state.settings, model, body)


@router.get("/{job_id}", response_model=TrainJob)
async def read_training_job(job_id: str, request: Request) -> TrainJob:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no training job {job_id!r}")
    return job
