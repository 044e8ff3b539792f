"""What the API's consumer remembered: latest forecasts, sample closes, the dashboard."""

from __future__ import annotations

from datetime import date

import pytest

from producers.calendar import next_trading_day, trading_days
from schemas.drift import DriftReport
from schemas.messages import Forecast


def _forecast(ticker: str, as_of: date, close: float) -> Forecast:
    return Forecast(
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
        state.remember_close("AAA", day.date().isoformat(), 20.0 + i)
    return client, [d.date().isoformat() for d in days]


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
    # A ready body for POST /predict.
    forecast = client.post("/predict", json={"last_prices": sample["last_prices"]})
    assert forecast.status_code == 200


def test_sample_data_of_an_unknown_ticker_is_404(fed) -> None:
    client, _ = fed

    assert client.get("/sample-data", params={"ticker": "NOPE"}).status_code == 404
    assert client.get("/sample-data").status_code == 422


def test_an_older_close_never_rewinds_the_window(fed) -> None:
    client, days = fed
    client.app.state.tickcast.remember_close("AAA", days[0], 1.0)

    assert client.get("/sample-data", params={"ticker": "AAA"}).json()["dates"][-1] == days[-1]


def test_dashboard_is_a_live_page(client) -> None:
    response = client.get("/dashboard")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "EventSource" in response.text and "/dashboard/events" in response.text


def test_dashboard_history_holds_the_remembered_forecasts(fed) -> None:
    client, _ = fed
    history = client.get("/dashboard/history").json()

    assert list(history) == ["AAA", "MMM", "ZZZ"]
    assert [f["as_of"] for f in history["ZZZ"]] == ["2024-12-26", "2024-12-27"]
    assert history["AAA"][0]["predicted_close"] == pytest.approx(20.2)
