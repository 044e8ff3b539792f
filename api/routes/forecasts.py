"""The stream's latest forecasts and closes, from the API's own consumer."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.deps import StateDep
from schemas.api import SampleData, ScoreSummary
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


@router.get("/forecasts/{ticker}/scores", response_model=ScoreSummary)
async def read_scores(ticker: str, state: StateDep, recent: int = 20) -> ScoreSummary:
    """Rolling MASE, interval coverage and pinball loss of the ticker's scored forecasts."""
    scores = state.scores.get(ticker)
    if not scores:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no scored forecast for {ticker!r} on the stream yet"
        )
    newest = scores[-1]
    return ScoreSummary(
        ticker=ticker,
        model_name=newest.model_name,
        model_version=newest.model_version,
        as_of=newest.target_date,
        rolling=newest.rolling,
        recent=list(scores)[-max(recent, 0) :] if recent else [],
    )


@router.get("/sample-data", response_model=SampleData)
async def read_sample_data(ticker: str, state: StateDep) -> SampleData:
    """The last closes the system has seen for `ticker`: a ready body for POST /predict."""
    closes = state.closes.get(ticker)
    if not closes:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no closes for {ticker!r} on the stream yet"
        )
    size = state.predictor.window if state.predictor else len(closes)
    days = list(closes)[-size:]
    bars = [d[2:] for d in days]
    full = all(None not in bar for bar in bars)
    return SampleData(
        ticker=ticker,
        dates=[d[0] for d in days],
        last_prices=[d[1] for d in days],
        last_opens=[b[0] for b in bars] if full else None,
        last_highs=[b[1] for b in bars] if full else None,
        last_lows=[b[2] for b in bars] if full else None,
    )
