"""The stream's latest forecasts and closes, from the API's own consumer."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.deps import StateDep
from schemas.api import SampleData
from schemas.messages import Forecast

router = APIRouter(tags=["forecasts"])


@router.get("/forecasts/latest", response_model=list[Forecast])
async def read_latest_forecasts(state: StateDep) -> list[Forecast]:
    """The newest forecast of every ticker seen on the forecasts topic."""
    return [state.latest[t] for t in sorted(state.latest)]


@router.get("/forecasts/{ticker}/latest", response_model=Forecast)
async def read_latest_forecast(ticker: str, state: StateDep) -> Forecast:
    if ticker not in state.latest:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no forecast for {ticker!r} on the stream yet"
        )
    return state.latest[ticker]


@router.get("/sample-data", response_model=SampleData)
async def read_sample_data(ticker: str, state: StateDep) -> SampleData:
    """The last closes the system has seen for `ticker`: a ready body for POST /predict."""
    closes = state.closes.get(ticker)
    if not closes:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no closes for {ticker!r} on the stream yet"
        )
    size = state.predictor.window if state.predictor else len(closes)
    pairs = list(closes)[-size:]
    return SampleData(ticker=ticker, dates=[d for d, _ in pairs], last_prices=[c for _, c in pairs])
