"""Typed dependencies: the state, the model in use, and the admin check.

All async: FastAPI would run plain `def` dependencies in its threadpool, two thread hops on
every request.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from api.state import ServiceState
from model.predictor import Predictor

TOKEN_HELP = "set TICKCAST_API__TOKEN on the server and send 'Authorization: Bearer <token>'"


async def get_state(request: Request) -> ServiceState:
    return request.app.state.tickcast


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_predictor(state: StateDep) -> Predictor:
    predictor = state.predictor
    if predictor is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no model loaded: train a champion (POST /train) or POST /model/reload",
        )
    return predictor


PredictorDep = Annotated[Predictor, Depends(get_predictor)]


async def require_admin(
    state: StateDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """401 without a token, 403 with a wrong one, 403 when the server has none configured."""
    configured = state.settings.api.token
    if configured is None or not configured.get_secret_value():
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this endpoint is disabled: {TOKEN_HELP}")
    if not authorization:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing bearer token: {TOKEN_HELP}",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.strip().encode(), configured.get_secret_value().encode()
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid bearer token")


AdminDep = Annotated[None, Depends(require_admin)]
