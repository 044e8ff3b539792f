"""POST /train (202, or 409 while a job runs) and GET /train/{job_id}, all behind the token.

A job's status names its data and its errors, so reading it needs the token as well.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Request, status

from api.deps import StateDep, require_admin
from api.sources import allowed_source
from schemas.api import TrainJob, TrainRequest

router = APIRouter(prefix="/train", tags=["training"], dependencies=[Depends(require_admin)])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TrainJob)
async def create_training_job(body: TrainRequest, state: StateDep, request: Request) -> TrainJob:
    """Train in a separate process; the champion moves only if the new model beats it.

    Bad hyperparameters or a source outside the training data folder are a 422, and a
    running job a 409 (the error tree maps them).
    """
    model = state.next_run.with_overrides(body.hyperparameters.model_dump())
    source = await asyncio.to_thread(allowed_source, body.source, body.tickers, state.settings.api)
    run = body.model_copy(update={"source": source})
    return request.app.state.jobs.start(state.settings, model, run)


@router.get("/{job_id}", response_model=TrainJob)
async def read_training_job(job_id: str, request: Request) -> TrainJob:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no training job {job_id!r}")
    return job
