"""POST /predict and /predict/batch: one batched forward pass per call."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api import metrics
from api.deps import PredictorDep, StateDep
from model.drift import assess_drift
from model.predictor import Predictor
from producers.calendar import next_trading_day
from schemas.api import BatchPredictRequest, BatchPredictResponse, PredictRequest, PredictResponse
from tickcast.config import Settings

logger = logging.getLogger(__name__)

router = APIRouter(tags=["predictions"])


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def forecast(
    requests: list[PredictRequest], predictor: Predictor, settings: Settings
) -> list[PredictResponse]:
    """Validate each window against the model, forecast all in one pass, assess drift."""
    for i, request in enumerate(requests):
        where = f"window {i}: " if len(requests) > 1 else ""
        if len(request.last_prices) != predictor.window:
            raise _unprocessable(
                f"{where}last_prices must hold exactly {predictor.window} prices; "
                f"got {len(request.last_prices)}"
            )
        if max(request.last_prices) > settings.api.max_price:
            raise _unprocessable(
                f"{where}prices above {settings.api.max_price:g} are not plausible"
            )
    windows = np.asarray([r.last_prices for r in requests], dtype=np.float64)
    returns = predictor.bundle.predict_returns(windows)  # the checks above and the schema validated
    prices = windows[:, -1] * np.exp(returns)
    if not np.all(np.isfinite(prices)):
        raise _unprocessable("these prices give no finite forecast; check the window")
    answers = []
    for request, window, ret, price in zip(
        requests, windows, returns.tolist(), prices.tolist(), strict=True
    ):
        drift = assess_drift(window, predictor.drift_baseline, settings.drift, request.ticker)
        target = next_trading_day(request.as_of or dt.date.today()) if request.ticker else None
        answers.append(
            PredictResponse(
                predicted_price=price,
                predicted_return=ret,
                last_price=float(window[-1]),
                ticker=request.ticker,
                target_date=target,
                drift_warning=drift.drift,
                drift_details=drift,
                model_name=predictor.name,
                model_version=predictor.version,
            )
        )
    metrics.PREDICTIONS.inc(len(answers))
    metrics.DRIFT_WARNINGS.inc(sum(a.drift_warning for a in answers))
    return answers


SCHEMA_REF = "#/components/schemas/PredictRequest"
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
    answer = forecast([body], predictor, state.settings)[0]
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
    return BatchPredictResponse(predictions=forecast(body.windows, predictor, state.settings))
