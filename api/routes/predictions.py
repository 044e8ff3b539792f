"""POST /predict and /predict/batch: the Forecaster's one batched pass per call."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api import metrics
from api.deps import PredictorDep, StateDep
from api.inputs import check_as_of
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


def _window(request: PredictRequest) -> WindowInput:
    return WindowInput(request.last_prices, request.ticker, _as_of(request), _bars(request))


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


def forecast(requests: list[PredictRequest], forecaster: Forecaster) -> list[PredictResponse]:
    """The Forecaster validates every window against the model, then forecasts them at once.

    Dates are checked first: one outside the B3 calendar's range is a 422 naming the range.
    """
    for i, request in enumerate(requests):
        check_as_of(_as_of(request), "as_of" if len(requests) == 1 else f"window {i}: as_of")
    answers = [_answer(p, forecaster) for p in forecaster.forecast([_window(r) for r in requests])]
    metrics.PREDICTIONS.inc(len(answers))
    metrics.DRIFT_WARNINGS.inc(sum(a.drift_warning for a in answers))
    return answers


PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
        },
    }
}


@router.post("/predict", response_model=PredictResponse, openapi_extra=PREDICT_BODY)
async def create_prediction(request: Request, predictor: PredictorDep) -> Response:
    """The next close after exactly 60 prices, with drift details.

    The hot path: the body goes straight from bytes through pydantic's JSON parser (one pass,
    no intermediate dict), and the validated answer is serialised once.
    """
    raw = await request.body()
    if not raw.strip():
        raise _unprocessable('body: Field required; send {"last_prices": [60 prices]}')
    try:
        body = PredictRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from exc
    answer = forecast([body], predictor.forecaster)[0]
    return Response(answer.model_dump_json(), media_type="application/json")


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
