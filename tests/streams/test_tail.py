"""How the screen shows the bus: one line per message, and forecasts and alerts in date order."""

from __future__ import annotations

from streams.tail import InOrder, render


def forecast(as_of: str, ticker: str = "AAA", synthetic: bool = False) -> dict:
    return {
        "as_of": as_of,
        "ticker": ticker,
        "target_date": as_of,
        "last_close": 10.0,
        "predicted_close": 10.1,
        "predicted_return": 0.01,
        "drift": {"drift": False},
        "quantiles": {"0.1": 9.9, "0.9": 10.3},
        "model_version": "3",
        "synthetic": synthetic,
    }


def alert(as_of: str, state: str = "entered", ticker: str = "AAA") -> dict:
    return {
        "as_of": as_of,
        "ticker": ticker,
        "state": state,
        "kind": "data",
        "statistics": [
            {"name": "ks_pvalue", "value": 0.001, "threshold": "p < 0.05", "drift": True},
            {"name": "volatility_ratio", "value": 1.2, "threshold": "outside", "drift": False},
        ],
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_forecast_of_synthetic_prices_says_so_and_a_real_one_does_not() -> None:
    assert render("forecasts", forecast("2024-01-02", synthetic=True)).endswith(" v3 [synthetic]")
    assert "[synthetic]" not in render("forecasts", forecast("2024-01-02"))


def test_an_alert_entering_quotes_what_breaches_and_a_recovery_what_came_back() -> None:
    entered = render("drift-alerts", alert("2024-01-02"))
    assert entered.endswith("drift ENTERED: ks_pvalue 0.001 (p < 0.05)")
    recovered = render("drift-alerts", alert("2024-03-02", "recovered"))
    assert recovered.endswith("drift RECOVERED: back inside: volatility_ratio 1.2")


def test_messages_are_held_then_released_in_date_order_whatever_their_topic() -> None:
    clock = Clock()
    order = InOrder(hold_s=1.0, clock=clock)
    order.add("drift-alerts", alert("2024-01-03"))  # the alert's topic was read first
    order.add("forecasts", forecast("2024-01-04", "BBB"))
    order.add("forecasts", forecast("2024-01-03", "BBB"))
    order.add("forecasts", forecast("2024-01-03"))
    assert order.due() == []  # nothing has been held long enough
    clock.now = 1.0
    shown = [(m["as_of"], m["ticker"], kind) for kind, m in order.due()]
    assert shown == [
        ("2024-01-03", "AAA", "forecasts"),
        ("2024-01-03", "AAA", "drift-alerts"),
        ("2024-01-03", "BBB", "forecasts"),
        ("2024-01-04", "BBB", "forecasts"),
    ]
    assert order.held == []


def test_a_late_message_that_sorts_first_leaves_with_the_ripe_ones() -> None:
    clock = Clock()
    order = InOrder(hold_s=1.0, clock=clock)
    order.add("forecasts", forecast("2024-01-05"))
    clock.now = 0.9
    order.add("forecasts", forecast("2024-01-04"))  # earlier date, just arrived
    order.add("forecasts", forecast("2024-01-08"))  # later date, just arrived: stays
    clock.now = 1.0
    assert [m["as_of"] for _kind, m in order.due()] == ["2024-01-04", "2024-01-05"]
    assert [m["as_of"] for _kind, m in order.drain()] == ["2024-01-08"]
