"""GET /dashboard: one page, no build step, updated live by server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from api.deps import StateDep
from api.state import ServiceState
from schemas.messages import Forecast

router = APIRouter(tags=["dashboard"])

PAGE = Path(__file__).resolve().parents[1] / "static" / "dashboard.html"
KEEPALIVE_S = 15.0


def _served(state: ServiceState) -> dict[str, Any] | None:
    """The model this API serves and what it was trained on, for the page's header."""
    predictor = state.predictor
    if predictor is None:
        return None
    trained_on = predictor.trained_on
    return {
        "name": predictor.name,
        "version": predictor.version,
        "trained_on": trained_on.model_dump(mode="json") if trained_on else None,
    }


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def read_dashboard(state: StateDep) -> HTMLResponse:
    """The page, with recent closes, forecasts, scores and the served model embedded so it
    renders before any live event."""
    history = {t: [f.model_dump(mode="json") for f in items] for t, items in state.history.items()}
    scores = {t: items[-1].model_dump(mode="json") for t, items in state.scores.items() if items}
    closes = {t: [[day, close] for day, close, *_ in rows] for t, rows in state.closes.items()}
    page = PAGE.read_text()
    for marker, data in (
        ("/*HISTORY*/{}", history),
        ("/*SCORES*/{}", scores),
        ("/*CLOSES*/{}", closes),
        ("/*MODEL*/null", _served(state)),
    ):
        page = page.replace(marker, json.dumps(data).replace("</", "<\\/"))  # keep <script>
    return HTMLResponse(page)


@router.get("/dashboard/history", response_model=dict[str, list[Forecast]])
async def read_history(state: StateDep) -> dict[str, list[Forecast]]:
    """Recent forecasts per ticker, to draw the charts before live updates arrive."""
    return {ticker: list(items) for ticker, items in sorted(state.history.items())}


@router.get("/dashboard/events")
async def stream_events(request: Request, state: StateDep) -> StreamingResponse:
    """Server-sent events: a `forecast` or `score` event per message the API's consumer reads."""
    queue: asyncio.Queue = asyncio.Queue()
    state.subscribers.add(queue)

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    event, message = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: {event}\ndata: {message.model_dump_json()}\n\n"
        finally:
            state.subscribers.discard(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
