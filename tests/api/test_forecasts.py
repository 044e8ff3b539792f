"""What the API's consumer remembered: latest forecasts, sample closes, the dashboard."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from producers.calendar import next_trading_day, trading_days
from schemas.drift import DriftReport
from schemas.messages import Forecast, ForecastScore, PriceTick, RollingScores
from streams.scoring import forecast_id, score_id


def _forecast(ticker: str, as_of: date, close: float) -> Forecast:
    return Forecast(
        id=forecast_id(ticker, as_of, "tickcast-lstm", "1"),
        ticker=ticker,
        as_of=as_of,
        target_date=next_trading_day(as_of),
        predicted_close=close * 1.01,
        predicted_return=0.00995,
        last_close=close,
        model_name="tickcast-lstm",
        model_version="1",
        drift=DriftReport(drift=False, baseline=ticker, statistics=[]),
    )


@pytest.fixture
def fed(client):
    """The state as the feed would leave it: three tickers, two forecasts for ZZZ."""
    state = client.app.state.tickcast
    for ticker, close in (("ZZZ", 10.0), ("AAA", 20.0), ("MMM", 30.0)):
        state.remember_forecast(_forecast(ticker, date(2024, 12, 26), close))
    state.remember_forecast(_forecast("ZZZ", date(2024, 12, 27), 11.0))
    days = trading_days(date(2024, 6, 3), date(2024, 12, 30))[:70]
    for i, day in enumerate(days):
        state.remember_close(_tick("AAA", day.date(), 20.0 + i))
    return client, [d.date().isoformat() for d in days]


def _tick(ticker: str, day: date, close: float, **bar: float) -> PriceTick:
    return PriceTick(ticker=ticker, date=day, close=close, source="test", **bar)


def test_latest_forecasts_are_the_newest_per_ticker_sorted(fed) -> None:
    client, _ = fed
    latest = client.get("/forecasts/latest").json()

    assert [f["ticker"] for f in latest] == ["AAA", "MMM", "ZZZ"]
    assert latest[2]["as_of"] == "2024-12-27" and latest[2]["last_close"] == 11.0
    assert latest[2]["target_date"] == "2024-12-30"


def test_no_forecasts_yet_is_an_empty_list(client) -> None:
    assert client.get("/forecasts/latest").json() == []


def test_latest_forecast_of_one_ticker(fed) -> None:
    client, _ = fed
    response = client.get("/forecasts/MMM/latest")

    assert response.status_code == 200
    assert (response.json()["ticker"], response.json()["last_close"]) == ("MMM", 30.0)
    unknown = client.get("/forecasts/NOPE/latest")
    assert unknown.status_code == 404 and "NOPE" in unknown.json()["detail"]


def test_sample_data_is_the_last_60_closes(fed) -> None:
    client, days = fed
    response = client.get("/sample-data", params={"ticker": "AAA"})

    assert response.status_code == 200
    sample = response.json()
    assert sample["ticker"] == "AAA"
    assert sample["last_prices"] == [20.0 + i for i in range(10, 70)]
    assert sample["dates"] == days[10:]
    # A ready body for POST /predict, as it is: the target follows the data's last date.
    forecast = client.post("/predict", json=sample)
    assert forecast.status_code == 200, forecast.text
    last = date.fromisoformat(days[-1])
    assert forecast.json()["target_date"] == next_trading_day(last).isoformat()


def test_dates_in_a_predict_body_must_fit_the_prices(fed) -> None:
    client, _ = fed
    sample = client.get("/sample-data", params={"ticker": "AAA"}).json()
    for dates, reason in (
        (sample["dates"][:-1], "dates needs one date per price: 59 dates for 60 prices"),
        (sample["dates"][::-1], "dates must be strictly increasing"),
    ):
        response = client.post("/predict", json={**sample, "dates": dates})
        assert response.status_code == 422 and reason in response.text
    wrong = {**sample, "as_of": sample["dates"][-2]}
    response = client.post("/predict", json=wrong)
    assert response.status_code == 422 and "is not the last of dates" in response.text


def test_sample_data_of_an_unknown_ticker_is_404(fed) -> None:
    client, _ = fed

    assert client.get("/sample-data", params={"ticker": "NOPE"}).status_code == 404
    assert client.get("/sample-data").status_code == 422


def test_an_older_close_never_rewinds_the_window(fed) -> None:
    client, days = fed
    client.app.state.tickcast.remember_close(_tick("AAA", date.fromisoformat(days[0]), 1.0))

    assert client.get("/sample-data", params={"ticker": "AAA"}).json()["dates"][-1] == days[-1]


def test_dashboard_is_a_live_page(client) -> None:
    response = client.get("/dashboard")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "EventSource" in response.text and "/dashboard/events" in response.text
    # The chart's axes are labelled with their units, and synthetic forecasts get a banner.
    assert "date (B3 sessions)</text>" in response.text and "price (BRL)</text>" in response.text
    assert "synthetic prices: not a market forecast" in response.text


def test_dashboard_embeds_the_closes_and_the_served_model(fed) -> None:
    client, days = fed
    page = client.get("/dashboard").text

    closes = json.loads(re.search(r"const INITIAL_CLOSES = (.*);", page).group(1))
    assert closes["AAA"][-1] == [days[-1], 20.0 + 69] and len(closes["AAA"]) >= 60
    served = json.loads(re.search(r"let served = (.*);", page).group(1))
    assert (served["name"], served["version"]) == ("tickcast-lstm", "1")
    assert "trained_on" in served


def test_dashboard_history_holds_the_remembered_forecasts(fed) -> None:
    client, _ = fed
    history = client.get("/dashboard/history").json()

    assert list(history) == ["AAA", "MMM", "ZZZ"]
    assert [f["as_of"] for f in history["ZZZ"]] == ["2024-12-26", "2024-12-27"]
    assert history["AAA"][0]["predicted_close"] == pytest.approx(20.2)


def test_sample_data_carries_the_bars_when_every_day_had_one(client) -> None:
    state = client.app.state.tickcast
    days = trading_days(date(2024, 6, 3), date(2024, 12, 30))[:60]
    for i, day in enumerate(days):
        close = 20.0 + 0.1 * i
        state.remember_close(
            _tick("BAR", day.date(), close, open=close, high=close + 1, low=close - 1)
        )
    sample = client.get("/sample-data", params={"ticker": "BAR"}).json()
    assert sample["last_highs"] == [p + 1 for p in sample["last_prices"]]
    body = {k: sample[k] for k in ("last_prices", "last_opens", "last_highs", "last_lows")}
    assert client.post("/predict", json=body).status_code == 200  # a ready body, bars and all


def _score(ticker: str, as_of: date, n: int) -> ForecastScore:
    fid = forecast_id(ticker, as_of, "tickcast-lstm", "1")
    rolling = RollingScores(n=n, mase=0.98, coverage_80=0.8, coverage_95=0.95, pinball=0.004)
    return ForecastScore(
        id=score_id(fid),
        forecast_id=fid,
        ticker=ticker,
        as_of=as_of,
        target_date=next_trading_day(as_of),
        model_name="tickcast-lstm",
        model_version="1",
        predicted_close=10.0,
        actual_close=10.1,
        error=0.1,
        abs_error=0.1,
        pct_error=0.99,
        naive_error=0.05,
        covered_80=True,
        covered_95=True,
        pinball=0.004,
        rolling={"20": rolling, "60": rolling},
    )


def test_scores_give_the_rolling_figures_and_repeats_are_dropped(client) -> None:
    state = client.app.state.tickcast
    days = [d.date() for d in trading_days(date(2024, 6, 3), date(2024, 12, 30))[:5]]
    for n, day in enumerate(days, start=1):
        state.remember_score(_score("AAA", day, n))
    state.remember_score(_score("AAA", days[-1], 5))  # redelivered after a worker restart
    summary = client.get("/forecasts/AAA/scores", params={"recent": 3}).json()
    assert summary["rolling"]["20"]["n"] == 5 and summary["rolling"]["60"]["mase"] == 0.98
    assert [s["as_of"] for s in summary["recent"]] == [d.isoformat() for d in days[2:]]
    assert summary["as_of"] == next_trading_day(days[-1]).isoformat()
    metrics = client.get("/metrics").text
    assert 'tickcast_api_duplicates_total{topic="forecast-scores"} 1.0' in metrics
    assert client.get("/forecasts/NOPE/scores").status_code == 404


def test_a_repeated_forecast_is_dropped_by_id(fed) -> None:
    client, _ = fed
    state = client.app.state.tickcast
    state.remember_forecast(_forecast("ZZZ", date(2024, 12, 27), 11.0))
    assert [f.as_of for f in state.history["ZZZ"]] == [date(2024, 12, 26), date(2024, 12, 27)]
