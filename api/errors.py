"""Library and validation errors to HTTP answers, in one place. Never a 500 for bad input,
and never a server path in an answer."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from typing import Any

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

#: Where an error in a request's parameters is; any other location is in its body.
PARAMETERS = ("query", "path", "header", "cookie")


def status_for(exc: TickcastError) -> int:
    for kind, code in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return code
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def _resolve(node: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The schema behind `$ref`s and `X | None`."""
    while True:
        if "$ref" in node:
            node = components.get(node["$ref"].rsplit("/", 1)[-1], {})
        elif "anyOf" in node:
            kept = [b for b in node["anyOf"] if b.get("type") != "null"]
            if len(kept) != 1:
                return node
            node = kept[0]
        else:
            return node


def fields_at(
    schema: dict[str, Any], path: Sequence[str | int], components: dict[str, Any]
) -> list[str] | None:
    """The property names of the object found by following an error's location in `schema`,
    or None where the location leads to no object with properties."""
    node: dict[str, Any] | None = schema
    for part in path:
        node = _resolve(node, components)
        if isinstance(part, int):
            node = node.get("items")
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):  # a dict's value
            node = node["additionalProperties"]
        else:
            node = None
        if node is None:
            return None
    return list(_resolve(node, components).get("properties", {})) or None


def unknown_field(name: str, accepted: list[str]) -> str:
    """'unknown field num_epochs; did you mean max_epochs? accepted: window, ...'."""
    close = difflib.get_close_matches(name, accepted, n=1)
    guess = f"; did you mean {close[0]}?" if close else ";"
    return f"unknown field {name}{guess} accepted: {', '.join(accepted)}"


def _body_schema(request: Request) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The request body's schema as /openapi.json documents it, and the schemas it refers to;
    /predict declares its body there only, as it validates the bytes itself."""
    route = request.scope.get("route")
    if route is None or not hasattr(route, "path_format"):
        return None
    spec = request.app.openapi()
    operation = spec.get("paths", {}).get(route.path_format, {}).get(request.method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    return content["schema"], spec.get("components", {}).get("schemas", {})


def _with_hints(request: Request, errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Each error as loc, msg, type; a field the body does not know names the ones it does.
    The offending input is left out: NaN or Infinity in it cannot be written as JSON."""
    shaped = []
    body: tuple[dict[str, Any], dict[str, Any]] | None = None
    for error in errors:
        loc, msg = list(error["loc"]), error["msg"]
        if error["type"] == "extra_forbidden" and loc and loc[0] not in PARAMETERS:
            body = body or _body_schema(request)
            path = loc[1:-1] if loc[0] == "body" else loc[:-1]  # or a body validated by hand
            accepted = body and fields_at(body[0], path, body[1])
            if accepted:  # pydantic's words first: clients may match on them
                msg = f"{msg}: {unknown_field(str(loc[-1]), accepted)}"
        shaped.append({"loc": loc, "msg": msg, "type": error["type"]})
    return shaped


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _with_hints(request, exc.errors())
        return JSONResponse(
            {"detail": describe(errors), "errors": errors},
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
