"""POST /predict under concurrency: requests read in one loop turn share a forward pass, and
each still gets exactly the answer it would get alone, or its own error."""

from __future__ import annotations

import asyncio
import json
import math

import httpx

from api import metrics
from tests.utils.browser import serving

WINDOW = [round(30.0 * math.exp(0.01 * math.sin(i / 3.0) + 0.001 * i), 4) for i in range(60)]
BODIES = [
    {"last_prices": WINDOW},
    {"last_prices": WINDOW[::-1], "ticker": "AAA", "as_of": "2024-12-27"},
    {"last_prices": [1.5 * p for p in WINDOW], "ticker": "AAA"},
    {
        "last_prices": WINDOW,
        "last_opens": WINDOW,
        "last_highs": [1.01 * p for p in WINDOW],
        "last_lows": [0.99 * p for p in WINDOW],
    },
]
IMPLAUSIBLE = {"last_prices": [*WINDOW[:-1], 1e12]}  # valid JSON the Forecaster refuses


def passes() -> tuple[float, float]:
    """Windows forecast by POST /predict so far, and the forward passes they took."""
    windows = metrics.REGISTRY.get_sample_value("tickcast_api_predict_pass_windows_sum")
    count = metrics.REGISTRY.get_sample_value("tickcast_api_predict_pass_windows_count")
    return windows or 0.0, count or 0.0


async def post_all(app, bodies: list[dict]) -> list[httpx.Response]:
    """Every body at once, through the app in this event loop."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await asyncio.gather(*(client.post("/predict", json=b) for b in bodies))


def test_requests_of_one_turn_share_a_pass_and_get_their_own_answers(client) -> None:
    alone = [client.post("/predict", json=body) for body in BODIES]
    assert all(r.status_code == 200 for r in alone), [r.text for r in alone]
    windows_before, passes_before = passes()

    together = asyncio.run(post_all(client.app, BODIES * 4))

    windows_after, passes_after = passes()
    windows, count = windows_after - windows_before, passes_after - passes_before
    assert windows == len(BODIES) * 4
    assert count < windows  # shared: the three windows without bars in one pass at least
    for answer, expected in zip(together, alone * 4, strict=True):
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected.json()  # the same bits, not just close


def test_a_window_the_model_refuses_fails_alone_in_a_shared_pass(client) -> None:
    alone = client.post("/predict", json=IMPLAUSIBLE)
    assert alone.status_code == 422
    assert alone.json()["detail"].endswith("prices above 1e+07 are not plausible")
    good = client.post("/predict", json=BODIES[0]).json()

    answers = asyncio.run(post_all(client.app, [BODIES[0], IMPLAUSIBLE, BODIES[0]]))

    assert [a.status_code for a in answers] == [200, 422, 200]
    assert answers[1].json() == alone.json()  # the message it gets alone, no "window 1:"
    assert answers[0].json() == answers[2].json() == good


def test_fast_answers_count_in_the_request_metrics(client) -> None:
    def answered() -> float:
        labels = {"route": "/predict", "method": "POST", "status": "200"}
        return metrics.REGISTRY.get_sample_value("tickcast_api_requests_total", labels) or 0.0

    before = answered()
    assert client.post("/predict", json=BODIES[0]).status_code == 200
    assert client.post("/predict", json=IMPLAUSIBLE).status_code == 422

    assert answered() == before + 1
    text = client.get("/metrics").text
    assert 'tickcast_api_requests_total{method="POST",route="/predict",status="422"}' in text


def test_concurrent_clients_over_http_get_what_they_get_alone(client) -> None:
    """Through uvicorn and real sockets, as wrk drives it: 32 requests on 16 connections."""
    alone = [client.post("/predict", json=body).json() for body in BODIES]

    async def load(base: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
            bodies = [json.dumps(b) for b in BODIES * 8]
            return await asyncio.gather(
                *(
                    http.post("/predict", content=b, headers={"content-type": "application/json"})
                    for b in bodies
                )
            )

    with serving(client.app, lifespan="off") as base:
        answers = asyncio.run(load(base))

    assert [a.json() for a in answers] == alone * 8
