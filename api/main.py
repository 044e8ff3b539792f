"""The FastAPI app: builds the state, includes the routers, maps library errors once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, status
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors, metrics
from api.jobs import TrainingJobs
from api.routes import dashboard, docs, forecasts, health, models, predictions, training
from api.state import ServiceState
from core.config import Settings
from model.errors import ModelNotFoundError
from producers.calendar import next_trading_day, use_cache
from schemas.messages import ModelEvent
from schemas.metrics import TrainResult

logger = logging.getLogger(__name__)


class BodyLimit:
    """413 for request bodies over `limit` bytes, whether declared or streamed (chunked)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.limit:
                return await self._reject(scope, send)
            return await self.app(scope, receive, send)
        # No length declared: read the body here, up to the limit, then replay it to the app.
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            size += len(message.get("body", b""))
            if size > self.limit:
                return await self._reject(scope, send)
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over {self.limit} bytes"}, status.HTTP_413_CONTENT_TOO_LARGE
        )
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class RequestMetrics:
    """Count and time requests by route template, as plain ASGI (no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status_code = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            metrics.LATENCY.labels(path).observe(time.perf_counter() - started)
            metrics.REQUESTS.labels(path, scope["method"], str(status_code)).inc()


def _after_training(state: ServiceState, result: TrainResult) -> None:
    """A model that took an alias: serve it here if that is the alias served, and tell every
    worker on the bus (each follows only the alias it serves)."""
    if result.alias is None:
        return
    if result.alias == state.settings.mlflow.served:
        state.load(result.model_version)
    if state.settings.kafka.bootstrap_servers:
        from streams.events import announce

        event = ModelEvent(
            model_name=result.model_name, model_version=result.model_version, alias=result.alias
        )
        asyncio.run(announce(state.settings.kafka, event))


def create_app(settings: Settings) -> FastAPI:
    state = ServiceState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await state.reload()
        except ModelNotFoundError as exc:
            logger.warning("starting without a model: %s", exc)
        # The B3 calendar is built once, here, rather than by the first request dated by it;
        # read back from the data dir's cache when an earlier process built it.
        use_cache(settings.data.cache_dir)
        await asyncio.to_thread(next_trading_day, dt.date.today())
        # Startup leaves a large heap (pandas, the calendar); freezing it keeps the cyclic GC from
        # rescanning it, which otherwise shows up as ~200 ms pauses in the p99.
        gc.collect()
        gc.freeze()
        feed = None
        if settings.kafka.bootstrap_servers:
            from api.feed import run_feed

            feed = asyncio.create_task(run_feed(state))
        yield
        if feed:
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed
        state.close()

    app = FastAPI(
        title="tickcast",
        docs_url=None,  # served by api/routes/docs.py from local assets, so they work offline
        redoc_url=None,
        version=health.VERSION,
        lifespan=lifespan,
        description="On-demand D+1 forecasts for B3 stocks, safe retraining, model info and a live "
        "dashboard. Mutating endpoints need `Authorization: Bearer <TICKCAST_API__TOKEN>`.",
    )
    app.state.tickcast = state
    app.state.jobs = TrainingJobs(on_success=lambda result: _after_training(state, result))
    for module in (predictions, forecasts, training, models, health, dashboard, docs):
        app.include_router(module.router)
    app.add_middleware(predictions.PredictFastPath, state=state)  # innermost
    app.add_middleware(BodyLimit, limit=settings.api.max_body_bytes)

    app.add_middleware(RequestMetrics)
    errors.install(app)
    return app
