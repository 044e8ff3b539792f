"""/, /health (liveness), /ready (model and broker) and /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import StateDep
from api.metrics import REGISTRY
from core import kafka as bus
from schemas.api import ServiceStatus

router = APIRouter(tags=["health"])

VERSION = "0.1.0"


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
        if not await bus.answers(state.settings.kafka):
            reasons.append(f"broker {servers} unreachable")
        elif not state.feed_connected:
            reasons.append("not yet reading the forecasts topic")
    if reasons:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"ready": not reasons, "reasons": reasons}


@router.get("/metrics")
async def read_metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
