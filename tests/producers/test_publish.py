"""Publishing order, the --follow ledger, and record timestamps; no broker needed."""

from __future__ import annotations

import gc
from datetime import UTC, date, datetime

import pandas as pd

from producers.publish import PublishedLedger, ticks_in_order, timestamp_ms


def frame(days: list[str], closes: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(days),
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": [float("nan")] * len(days),
        }
    )


FRAMES = {
    "BBB": frame(["2024-01-02", "2024-01-03", "2024-01-04"], [20.0, 21.0, 22.0]),
    "AAA": frame(["2024-01-03", "2024-01-04"], [10.0, 11.0]),
}


def test_ticks_are_merged_in_date_order_then_ticker() -> None:
    ticks = ticks_in_order(FRAMES, "csv:x")
    assert [(t.date.isoformat(), t.ticker) for t in ticks] == [
        ("2024-01-02", "BBB"),
        ("2024-01-03", "AAA"),
        ("2024-01-03", "BBB"),
        ("2024-01-04", "AAA"),
        ("2024-01-04", "BBB"),
    ]
    assert ticks[0].close == 20.0 and ticks[0].volume is None and ticks[0].source == "csv:x"


def test_a_tick_carries_each_known_price_and_none_for_a_gap() -> None:
    gappy = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02", "2024-01-03"]),
            "open": [9.5, float("nan")],
            "high": [10.5, 11.0],
            "low": [float("nan"), 10.0],
            "close": [10.0, 10.5],
            "volume": pd.array([1200, None], dtype="Int64"),  # a nullable column with a gap
        }
    )
    collecting = gc.isenabled()
    first, second = ticks_in_order({"AAA": gappy}, "synthetic")
    assert gc.isenabled() == collecting  # the collector comes back as it was
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        9.5,
        10.5,
        None,
        10.0,
        1200.0,
    )
    assert (second.open, second.low, second.volume) == (None, 10.0, None)
    assert first.synthetic and second.date == date(2024, 1, 3)
    assert all(type(v) is float for v in (first.close, first.open, first.volume))


def test_follow_publishes_only_dates_after_the_ledger(tmp_path) -> None:
    ledger = PublishedLedger(tmp_path / "published.json")
    assert ledger.read("prices") == {}
    ledger.update("prices", {"BBB": date(2024, 1, 3)})
    ledger.update("prices", {"AAA": date(2024, 1, 3)})  # merges, keeps BBB
    ledger.update("other", {"AAA": date(2024, 1, 4)})  # topics are separate
    last = ledger.read("prices")
    assert last == {"AAA": date(2024, 1, 3), "BBB": date(2024, 1, 3)}
    fresh = ticks_in_order(FRAMES, "csv:x", last)
    assert [(t.ticker, t.date.isoformat()) for t in fresh] == [
        ("AAA", "2024-01-04"),
        ("BBB", "2024-01-04"),
    ]
    assert ticks_in_order(FRAMES, "csv:x", {"AAA": date(2024, 1, 4), "BBB": date(2024, 1, 4)}) == []


def test_record_timestamp_is_the_trading_date_at_midnight_utc() -> None:
    ms = timestamp_ms(date(2024, 1, 2))
    assert datetime.fromtimestamp(ms / 1000, UTC) == datetime(2024, 1, 2, tzinfo=UTC)
