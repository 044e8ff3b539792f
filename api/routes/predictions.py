"""POST /predict and /predict/batch: the Forecaster's one batched pass per call.

POST /predict's forecasts are answered by `PredictFastPath`, in front of FastAPI; the route
here documents it and gives every error. Both answer through `predict`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools

import numpy as np
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.coalesce import Coalescer
from api.deps import PredictorDep, StateDep
from api.inputs import check_as_of
from api.state import ServiceState
from core.errors import TickcastError
from model.forecaster import Forecaster, Prediction, WindowInput
from schemas.api import BatchPredictRequest, BatchPredictResponse, PredictRequest, PredictResponse

router = APIRouter(tags=["predictions"])


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def _bars(request: PredictRequest) -> np.ndarray | None:
    columns = (request.last_opens, request.last_highs, request.last_lows)
    if all(column is None for column in columns):
        return None
    if any(column is None for column in columns):
        raise _unprocessable("send last_opens, last_highs and last_lows together, or none")
    if any(len(column) != len(request.last_prices) for column in columns):  # type: ignore[arg-type]
        raise _unprocessable("last_opens, last_highs and last_lows need one value per price")
    return np.asarray(columns, dtype=np.float64).T


def _as_of(request: PredictRequest) -> dt.date | None:
    """The last price's date: as_of, else the last of dates; a ticker without either asks
    about today, so its target is the next session after it."""
    if request.dates is not None:
        days = request.dates
        if len(days) != len(request.last_prices):
            raise _unprocessable(
                f"dates needs one date per price: {len(days)} dates for "
                f"{len(request.last_prices)} prices"
            )
        if any(later <= earlier for earlier, later in itertools.pairwise(days)):
            raise _unprocessable("dates must be strictly increasing, oldest first")
        if request.as_of is not None and request.as_of != days[-1]:
            raise _unprocessable(f"as_of {request.as_of} is not the last of dates, {days[-1]}")
        return days[-1]
    return request.as_of or (dt.date.today() if request.ticker else None)


def _window(request: PredictRequest, where: str = "as_of") -> WindowInput:
    """The request's window for the Forecaster; its date checked first, as `where`: one
    outside the B3 calendar's range is a 422 naming the range."""
    as_of = _as_of(request)
    check_as_of(as_of, where)
    return WindowInput(request.last_prices, request.ticker, as_of, _bars(request))


def _answer(p: Prediction, forecaster: Forecaster) -> PredictResponse:
    return PredictResponse(
        predicted_price=p.predicted_close,
        predicted_return=p.predicted_return,
        last_price=p.last_close,
        ticker=p.ticker,
        target_date=p.target_date,
        quantiles=p.quantiles,
        return_quantiles=p.return_quantiles,
        volatility=p.volatility,
        interval_method="split-conformal",
        drift_warning=p.drift.drift,
        drift_details=p.drift,
        model_name=forecaster.name,
        model_version=forecaster.version,
        trained_on=forecaster.trained_on,
    )


def _answers(predictions: list[Prediction], forecaster: Forecaster) -> list[PredictResponse]:
    """The responses, counted in the metrics."""
    answers = [_answer(p, forecaster) for p in predictions]
    metrics.PREDICTIONS.inc(len(answers))
    if drifted := sum(a.drift_warning for a in answers):
        metrics.DRIFT_WARNINGS.inc(drifted)
    return answers


def forecast(requests: list[PredictRequest], forecaster: Forecaster) -> list[PredictResponse]:
    """The Forecaster validates every window against the model, then forecasts them at once."""
    one = len(requests) == 1
    windows = [_window(r, "as_of" if one else f"window {i}: as_of") for i, r in enumerate(requests)]
    return _answers(forecaster.forecast(windows), forecaster)


async def predict(raw: bytes, forecaster: Forecaster, coalescer: Coalescer) -> bytes:
    """POST /predict's answer, JSON, from its raw body: the window is forecast with the other
    requests of this loop turn. Raises the route's errors (each an exception handler's 422)."""
    try:
        request = PredictRequest.model_validate_json(raw)
    except ValidationError as exc:
        if not raw.strip():  # no body at all: say what one looks like
            message = 'body: Field required; send {"last_prices": [60 prices]}'
            raise _unprocessable(message) from None
        raise RequestValidationError(exc.errors(include_input=False)) from exc
    prediction = await coalescer.forecast(forecaster, _window(request))
    answer = _answers([prediction], forecaster)[0]
    return PredictResponse.__pydantic_serializer__.to_json(answer)


PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
        },
    }
}


@router.post("/predict", response_model=PredictResponse, openapi_extra=PREDICT_BODY)
async def create_prediction(request: Request, predictor: PredictorDep, state: StateDep) -> Response:
    """The next close after exactly 60 prices, with drift details."""
    # Forecasts are answered before this route, by PredictFastPath, through the same
    # `predict`: a request reaches it for its error (or under a root_path).
    answer = await predict(await request.body(), predictor.forecaster, state.coalescer)
    return Response(answer, media_type="application/json")


@router.post("/predict/batch", response_model=BatchPredictResponse)
async def create_predictions(
    body: BatchPredictRequest, predictor: PredictorDep, state: StateDep
) -> BatchPredictResponse:
    """Up to 1,000 windows in one forward pass."""
    if len(body.windows) > state.settings.api.max_batch:
        raise _unprocessable(
            f"at most {state.settings.api.max_batch} windows per call; got {len(body.windows)}"
        )
    return BatchPredictResponse(predictions=forecast(body.windows, predictor.forecaster))


class PredictFastPath:
    """POST /predict's forecasts, answered without FastAPI's routing, dependency and
    exception layers, and coalesced with the other requests of the same loop turn.

    Only a forecast is answered here. Anything else (no model yet, a body or window that is
    refused, a client gone, a path under a root_path) passes on to the route, with the body
    already read, and the route gives its documented error.
    """

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app, self.state = app, state
        self.route = next(r for r in router.routes if getattr(r, "path", "") == "/predict")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != "/predict"
            or scope["method"] != "POST"
            or scope.get("root_path")
        ):
            return await self.app(scope, receive, send)
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # gone: the route says so in the log
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer, predictor = None, self.state.predictor
        if predictor is not None and message["type"] == "http.request":
            with contextlib.suppress(RequestValidationError, HTTPException, TickcastError):
                answer = await predict(body, predictor.forecaster, self.state.coalescer)
        if answer is None:  # the route gives the error

            async def replay() -> Message:
                return messages.pop(0) if messages else await receive()

            return await self.app(scope, replay, send)
        scope["route"] = self.route  # for the request metrics' label
        await send(
            {
                "type": "http.response.start",
                "status": status.HTTP_200_OK,
                "headers": [
                    (b"content-length", str(len(answer)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})
