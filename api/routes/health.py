"""/, /health (liveness), /ready (model and broker) and /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import StateDep
from api.metrics import REGISTRY
from schemas.api import ServiceStatus

router = APIRouter(tags=["health"])

VERSION = "0.1.0"
CONNECT_TIMEOUT_S = 0.5


async def reachable(host: str, port: int) -> bool:
    """Whether a TCP connection opens, without blocking the event loop."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@router.get("/", response_model=ServiceStatus)
async def read_root(state: StateDep) -> ServiceStatus:
    model = state.predictor.version if state.predictor else None
    return ServiceStatus(version=VERSION, status="ok" if model else "degraded", model_version=model)


@router.get("/health")
async def read_health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Not ready; `reasons` says why."}})
async def read_ready(state: StateDep, response: Response) -> dict[str, object]:
    """Readiness: a model is loaded and the broker answers; 503 with the reasons otherwise."""
    reasons = []
    if state.predictor is None:
        reasons.append("no model loaded")
    servers = state.settings.kafka.bootstrap_servers
    if not servers:
        reasons.append("no broker configured (KAFKA_BOOTSTRAP_SERVERS)")
    else:
        host, _, port = servers.split(",")[0].rpartition(":")
        if not await reachable(host or "127.0.0.1", int(port)):
            reasons.append(f"broker {servers} unreachable")
        elif not state.feed_connected:
            reasons.append("not yet reading the forecasts topic")
    if reasons:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"ready": not reasons, "reasons": reasons}


@router.get("/metrics")
async def read_metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
