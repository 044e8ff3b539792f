"""Library and validation errors to HTTP answers, in one place. Never a 500 for bad input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from model.errors import InvalidWindowError, ModelNotFoundError


def describe(errors: Sequence[Any]) -> str:
    """'last_prices.3: Input should be a finite number; ...' from pydantic errors."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in errors
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The offending input is left out: NaN or Infinity in it cannot even be written as JSON.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse(
            {"detail": describe(exc.errors()), "errors": errors},
            status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(InvalidWindowError)
    async def invalid_window(request: Request, exc: InvalidWindowError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(ModelNotFoundError)
    async def no_model(request: Request, exc: ModelNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_503_SERVICE_UNAVAILABLE)
