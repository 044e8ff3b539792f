"""Library and validation errors to HTTP answers, in one place. Never a 500 for bad input,
and never a server path in an answer."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from api.redact import redact
from core.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    TickcastError,
    UnavailableError,
    describe,
)

logger = logging.getLogger(__name__)

#: Logged for a client that left before its answer; nobody receives it (nginx's code).
CLIENT_CLOSED_REQUEST = 499

#: Each category of the error tree, most specific first, and its status.
STATUS_BY_ERROR: tuple[tuple[type[TickcastError], int], ...] = (
    (UnavailableError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (ConflictError, status.HTTP_409_CONFLICT),
    (InputError, status.HTTP_422_UNPROCESSABLE_CONTENT),
)


def status_for(exc: TickcastError) -> int:
    for kind, code in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return code
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The offending input is left out: NaN or Infinity in it cannot even be written as JSON.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse(
            {"detail": describe(exc.errors()), "errors": errors},
            status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(TickcastError)
    async def tickcast_error(request: Request, exc: TickcastError) -> JSONResponse:
        return JSONResponse({"detail": redact(str(exc))}, status_for(exc))

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> Response:
        """A client that hangs up mid-request is its own business: a debug line, no trace."""
        logger.debug("client left during %s %s", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED_REQUEST)
