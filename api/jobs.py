"""Training jobs in a separate process, so serving latency holds; one at a time, atomically."""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing as mp
import os
import queue
import threading
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from api.redact import redact
from core.config import Hyperparameters, Settings
from core.errors import ConflictError
from schemas.api import TrainJob, TrainRequest
from schemas.metrics import TrainResult

logger = logging.getLogger(__name__)


class JobConflict(ConflictError):
    """A training job is already running."""


def _train_in_child(settings_json: str, request_json: str, events: Any, verbose: bool) -> None:
    """Child process: load data, train, and report progress and the outcome on `events`.

    Only this process imports torch and Lightning (and quiets them as the API's own logging
    says): the serving process never does. The prices are read first, so a job whose data
    is bad fails in about a second, not after the seven or so that those imports take.
    """
    from core.logs import setup_logging

    setup_logging(verbose)  # again with heavy=True below, once the data has been read
    from producers.sources import load_prices

    try:
        settings = Settings.model_validate_json(settings_json)
        # Serving comes first: the child runs niced, on one thread, leaving a core to the API.
        os.nice(settings.api.training_nice)
        request = TrainRequest.model_validate_json(request_json)
        data = load_prices(
            request.source, request.tickers, settings.data, request.start, request.end
        )
        setup_logging(verbose, heavy=True)  # imports Lightning and MLflow, then quiets them
        import torch

        torch.set_num_threads(1)
        from model.training import train

        result = train(
            data,
            settings,
            valid_start=request.valid_start,
            test_start=request.test_start,
            progress=False,
            on_epoch=lambda epoch, losses: events.put(("epoch", epoch, losses)),
        )
        events.put(("done", result.model_dump_json()))
    except Exception as exc:  # reported as the job's error, never swallowed
        events.put(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))


class TrainingJobs:
    """Starts at most one job; `start` checks and claims under one lock, so two parallel calls
    can never both start."""

    def __init__(self, on_success: Callable[[TrainResult], None]) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainJob] = {}
        self._running: str | None = None
        self._on_success = on_success
        self._context = mp.get_context("spawn")

    def get(self, job_id: str) -> TrainJob | None:
        return self._jobs.get(job_id)

    @property
    def running(self) -> str | None:
        return self._running

    def start(self, settings: Settings, model: Hyperparameters, request: TrainRequest) -> TrainJob:
        with self._lock:
            if self._running is not None:
                raise JobConflict(f"training job {self._running} is still running")
            job = TrainJob(
                job_id=uuid.uuid4().hex[:12],
                state="running",
                max_epochs=model.max_epochs,
                submitted_at=dt.datetime.now(dt.UTC),
            )
            self._jobs[job.job_id] = job
            self._running = job.job_id
        run_settings = settings.model_copy(update={"model": model})
        events = self._context.Queue()
        process = self._context.Process(
            target=_train_in_child,
            name=f"train-{job.job_id}",
            daemon=True,
            args=(
                run_settings.model_dump_json(),
                request.model_dump_json(),
                events,
                logging.getLogger().isEnabledFor(logging.INFO),
            ),
        )
        process.start()
        threading.Thread(
            target=self._watch, args=(job.job_id, process, events), daemon=True
        ).start()
        return job

    def _watch(self, job_id: str, process: Any, events: Any) -> None:
        job = self._jobs[job_id]
        try:
            while True:
                try:
                    event = events.get(timeout=1.0)
                except queue.Empty:  # no news: check the child is still alive
                    if not process.is_alive():
                        self._finish(
                            job_id, error=f"training process exited with code {process.exitcode}"
                        )
                        return
                    continue
                if event[0] == "epoch":
                    self._jobs[job_id] = job = job.model_copy(
                        update={"epoch": event[1], "losses": event[2]}
                    )
                elif event[0] == "done":
                    result = TrainResult.model_validate_json(event[1])
                    self._finish(job_id, result=result)
                    return
                else:
                    logger.error("training job %s failed:\n%s", job_id, event[2])
                    self._finish(job_id, error=event[1])
                    return
        finally:
            process.join(timeout=10)

    def _finish(
        self, job_id: str, result: TrainResult | None = None, error: str | None = None
    ) -> None:
        """Publish the outcome; a promoted model is served here before the job says so.

        The error is for the client: the log has it in full, the job without server paths.
        """
        update: dict[str, Any] = {"finished_at": dt.datetime.now(dt.UTC)}
        if result is not None:
            update.update(
                state="succeeded",
                model_version=result.model_version,
                promoted=result.promoted,
                alias=result.alias,
                promotion_reason=result.promotion_reason,
                metrics=result.metrics,
                epoch=result.epochs,
            )
            if result.alias is not None:
                try:
                    self._on_success(result)
                except Exception as exc:
                    logger.exception(
                        "job %s: could not switch to v%s", job_id, result.model_version
                    )
                    update["error"] = redact(f"promoted, but this API could not load it: {exc}")
        else:
            update.update(state="failed", error=redact(error or "failed"))
        with self._lock:
            self._jobs[job_id] = self._jobs[job_id].model_copy(update=update)
            self._running = None
