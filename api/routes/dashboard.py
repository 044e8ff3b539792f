"""GET /dashboard: one page, no build step, updated live by server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from api.deps import StateDep
from schemas.messages import Forecast

router = APIRouter(tags=["dashboard"])

PAGE = Path(__file__).resolve().parents[1] / "static" / "dashboard.html"
KEEPALIVE_S = 15.0


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def read_dashboard(state: StateDep) -> HTMLResponse:
    """The page, with recent history embedded so it renders before any live event."""
    history = {t: [f.model_dump(mode="json") for f in items] for t, items in state.history.items()}
    scores = {t: items[-1].model_dump(mode="json") for t, items in state.scores.items() if items}
    page = PAGE.read_text()
    for marker, data in (("/*HISTORY*/{}", history), ("/*SCORES*/{}", scores)):
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
