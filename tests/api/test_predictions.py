"""POST /predict and /predict/batch: forecasts from the champion, and a 422 that says why."""

from __future__ import annotations

import asyncio
import json
import logging
import math

import pytest

WINDOW = [round(30.0 * math.exp(0.01 * math.sin(i / 3.0) + 0.001 * i), 4) for i in range(60)]


def _raw(values: list[str]) -> str:
    return '{"last_prices": [' + ", ".join(values) + "]}"


def _with(index: int, token: str) -> str:
    values = [repr(p) for p in WINDOW]
    values[index] = token
    return _raw(values)


def test_predict_returns_a_positive_price_its_log_return_and_drift(client) -> None:
    response = client.post("/predict", json={"last_prices": WINDOW})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predicted_price"] > 0
    assert body["last_price"] == WINDOW[-1]
    assert body["predicted_return"] == pytest.approx(
        math.log(body["predicted_price"] / WINDOW[-1]), rel=1e-9, abs=1e-12
    )
    assert (body["model_name"], body["model_version"]) == ("tickcast-lstm", "1")
    assert (body["ticker"], body["target_date"]) == (None, None)
    drift = body["drift_details"]
    names = [s["name"] for s in drift["statistics"]]
    assert names == ["ks_pvalue", "volatility_ratio", "mean_return_z"]
    assert all(s["threshold"] for s in drift["statistics"])
    assert body["drift_warning"] == drift["drift"] == any(s["drift"] for s in drift["statistics"])


def test_a_ticker_adds_the_next_b3_trading_day_and_its_baseline(client) -> None:
    # 2024-12-27 is a Friday; B3 trades on Monday the 30th (and not on the 31st).
    body = {"last_prices": WINDOW, "ticker": "AAA", "as_of": "2024-12-27"}
    response = client.post("/predict", json=body)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["ticker"], answer["target_date"]) == ("AAA", "2024-12-30")
    assert answer["drift_details"]["baseline"] == "AAA"
    before_new_year = client.post("/predict", json={**body, "as_of": "2024-12-30"}).json()
    assert before_new_year["target_date"] == "2025-01-02"


BAD_INPUTS = {
    "nan": (_with(5, "NaN"), "last_prices.5: Input should be a finite number"),
    "infinity": (_with(0, "Infinity"), "last_prices.0: Input should be a finite number"),
    "minus-infinity": (_with(59, "-Infinity"), "last_prices.59: Input should be a finite number"),
    "59 prices": (json.dumps({"last_prices": WINDOW[:59]}), "exactly 60 prices; got 59"),
    "61 prices": (json.dumps({"last_prices": [*WINDOW, 31.0]}), "exactly 60 prices; got 61"),
    "string price": (_with(3, '"1.5"'), "last_prices.3: Input should be a valid number"),
    "negative": (_with(7, "-2.5"), "last_prices.7: Input should be greater than 0"),
    "zero": (_with(8, "0"), "last_prices.8: Input should be greater than 0"),
    "huge": (_with(9, "1e308"), "not plausible"),
    "missing body": ("", "body: Field required"),
    "not json": ("last_prices=1,2,3", "Invalid JSON"),
    "no last_prices": (json.dumps({"ticker": "AAA"}), "last_prices: Field required"),
    "extra field": (
        json.dumps({"last_prices": WINDOW, "horizon": 2}),
        "horizon: Extra inputs are not permitted",
    ),
    "object": (
        json.dumps({"last_prices": {"a": 1.0}}),
        "last_prices: Input should be a valid array",
    ),
}


@pytest.mark.parametrize(("content", "fragment"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_422_that_says_what_is_wrong(client, content: str, fragment: str) -> None:
    response = client.post(
        "/predict", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


def test_batch_equals_single_calls(client) -> None:
    windows = [WINDOW, WINDOW[::-1], [1.5 * p for p in WINDOW]]
    response = client.post(
        "/predict/batch", json={"windows": [{"last_prices": w} for w in windows]}
    )

    assert response.status_code == 200, response.text
    batch = response.json()["predictions"]
    singles = [client.post("/predict", json={"last_prices": w}).json() for w in windows]
    assert len(batch) == 3
    for together, alone in zip(batch, singles, strict=True):
        assert together["predicted_price"] == pytest.approx(alone["predicted_price"], rel=1e-12)
        assert together["predicted_return"] == pytest.approx(alone["predicted_return"], rel=1e-12)
        assert together["drift_details"] == alone["drift_details"]
    assert len({round(b["predicted_price"], 6) for b in batch}) == 3


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (WINDOW[:59], "window 1: the model reads exactly 60 prices; got 59"),
        ([*WINDOW[:-1], 1e12], "window 1: prices above 1e+07 are not plausible"),
        ([*WINDOW[:-1], -1.0], "windows.1.last_prices.59: Input should be greater than 0"),
    ],
    ids=["length", "implausible", "negative"],
)
def test_a_bad_window_in_a_batch_is_named(client, bad: list[float], fragment: str) -> None:
    windows = [{"last_prices": WINDOW}, {"last_prices": bad}, {"last_prices": WINDOW}]
    response = client.post("/predict/batch", json={"windows": windows})

    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


def test_batch_over_max_batch_is_a_422(client_for) -> None:
    small = client_for(max_batch=5)
    five = {"windows": [{"last_prices": WINDOW}] * 5}

    assert small.post("/predict/batch", json=five).status_code == 200
    response = small.post("/predict/batch", json={"windows": [{"last_prices": WINDOW}] * 6})
    assert response.status_code == 422
    assert "at most 5 windows per call; got 6" in response.json()["detail"]
    empty = small.post("/predict/batch", json={"windows": []})
    assert empty.status_code == 422 and "windows" in empty.json()["detail"]


@pytest.mark.parametrize("as_of", ["1500-06-01", "2300-06-01", "1969-12-31", "2200-01-01"])
def test_an_as_of_outside_the_calendar_is_a_422_naming_the_range(client, as_of: str) -> None:
    body = {"last_prices": WINDOW, "ticker": "AAA", "as_of": as_of}
    single = client.post("/predict", json=body)
    batch = client.post("/predict/batch", json={"windows": [{"last_prices": WINDOW}, body]})

    assert single.status_code == 422, single.text
    assert single.json()["detail"] == (
        f"as_of: {as_of} is outside the accepted range 1970-01-01..2199-12-31"
    )
    assert batch.status_code == 422, batch.text
    assert batch.json()["detail"].startswith(f"window 1: as_of: {as_of} is outside")


def test_the_calendar_is_built_once_not_per_year_asked(client, monkeypatch) -> None:
    import producers.calendar as calendar

    builds: list[dict] = []
    build = calendar.xcals.get_calendar
    monkeypatch.setattr(
        calendar.xcals, "get_calendar", lambda *a, **k: builds.append(k) or build(*a, **k)
    )
    for year in (1971, 1985, 2061, 2077, 2101, 2150, 2198, 2199):  # each once, in any order
        body = {"last_prices": WINDOW, "ticker": "AAA", "as_of": f"{year}-03-04"}
        response = client.post("/predict", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["target_date"] > f"{year}-03-04"
    assert builds == []


def test_a_client_that_hangs_up_is_a_debug_line_not_a_traceback(client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sent: list[dict] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"900")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict:
        return {"type": "http.disconnect"}  # gone before sending its body

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(client.app(scope, receive, send))  # raised ClientDisconnect before

    assert "client left during POST /predict" in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
