"""The dashboard in Chromium: a banner on forecasts made from synthetic prices, and a chart
with labelled axes, the last closes, and the next forecast with its intervals."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from producers.calendar import trading_days
from schemas.messages import Forecast, PriceTick, TrainedOn
from tests.api.test_forecasts import _forecast as plain_forecast
from tests.utils.browser import MISSING, browse, chromium, serving

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BANNER = "synthetic prices: not a market forecast"
#: The page holds a server-sent event stream open, so stop the browser after a while.
STOP = "--timeout=5000"
QUANTILES = {"0.025": 0.95, "0.1": 0.97, "0.5": 1.0, "0.9": 1.03, "0.975": 1.05}


def _forecast(ticker: str, as_of: date, close: float, *, synthetic: bool) -> Forecast:
    """test_forecasts' forecast, with intervals and what made it."""
    kind = "synthetic" if synthetic else "csv"
    lineage = TrainedOn(
        source_kind=kind, tickers=[ticker], start=date(2018, 1, 2), end=date(2023, 12, 28)
    )
    return plain_forecast(ticker, as_of, close).model_copy(
        update={
            "quantiles": {level: close * 1.01 * f for level, f in QUANTILES.items()},
            "synthetic": synthetic,
            "trained_on": lineage,
        }
    )


def _card(dom: str, ticker: str) -> str:
    """The markup of one ticker's card in a dumped DOM."""
    start = dom.index(f'id="card-{ticker}"')
    end = dom.find('<div class="card"', start)
    return dom[start : end if end > 0 else len(dom)]


def test_synthetic_forecasts_carry_a_banner_and_real_ones_do_not(client_for) -> None:
    if chromium() is None:
        pytest.skip(MISSING)
    client = client_for()
    state = client.app.state.tickcast
    days = [d.date() for d in trading_days(date(2024, 6, 3), date(2024, 12, 30))[:80]]
    # The state keeps the last 60 closes, days 20..79; the forecasts read days 10..74, so
    # the prices run 5 sessions ahead of them, as they do while a replay is being read.
    for ticker, base, synthetic in (("SYN", 20.0, True), ("REAL", 9.0, False)):
        for i, day in enumerate(days):
            close = base + 0.05 * i + 0.3 * (i % 3)
            state.remember_close(PriceTick(ticker=ticker, date=day, close=close, source="test"))
            if 10 <= i < 75:
                state.remember_forecast(_forecast(ticker, day, close, synthetic=synthetic))

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-synthetic.png"
    with serving(client.app, lifespan="off") as base:  # the TestClient ran it: same state
        dom = browse(f"{base}/dashboard", shot, STOP)

    synthetic, real = _card(dom, "SYN"), _card(dom, "REAL")
    assert BANNER in synthetic, synthetic[:1500]
    assert BANNER not in real
    top = re.search(r'<div id="banner"[^>]*>.*?</div>', dom, re.DOTALL)
    assert top and "hidden" not in top.group(0).split(">", 1)[0] and "(SYN)" in top.group(0)
    assert "trained on synthetic (invented) prices of SYN" in synthetic
    assert "trained on csv prices of REAL, 2018-01-02..2023-12-28" in real
    for card in (synthetic, real):
        assert ">date (B3 sessions)</text>" in card and ">price (BRL)</text>" in card
        closes = re.search(r'class="closes" points="([^"]+)"', card).group(1)
        assert len(closes.split()) == 60  # the last 60 closes the forecast could read
        labels = re.findall(r'<text class="tick"[^>]*>(\d{4}-\d{2}-\d{2})</text>', card)
        assert (labels[0], labels[-1]) == (days[15].isoformat(), days[75].isoformat())
        for interval in ("q80", "q95", "forecast-point"):
            assert f'class="{interval}"' in card, interval
    assert "Serving tickcast-lstm v1" in dom
    assert shot.stat().st_size > 10_000
