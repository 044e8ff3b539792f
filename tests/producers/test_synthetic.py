"""The synthetic source: seeded, per-ticker, on B3 sessions, with real volatility regimes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from core.config import DataSettings
from producers.calendar import trading_days
from producers.sources import load_prices
from producers.sources.synthetic import (
    CALM,
    TURBULENT,
    SyntheticSpec,
    regimes,
    synthetic_bars,
    ticker_seed,
)
from schemas.prices import PRICE_COLUMNS

START, END = date(2018, 1, 2), date(2024, 12, 30)


def closes(ticker: str = "CMIG4.SA", seed: int = 7, end: date = END) -> np.ndarray:
    return synthetic_bars(ticker, START, end, SyntheticSpec(seed=seed))["close"].to_numpy()


def test_same_seed_and_ticker_give_the_same_frame(data_settings) -> None:
    first = load_prices("synthetic", ["CMIG4.SA"], data_settings).frames["CMIG4.SA"]
    second = load_prices("synthetic", ["CMIG4.SA"], data_settings).frames["CMIG4.SA"]
    pd.testing.assert_frame_equal(first, second)
    assert len(first) > 1500


def test_ticker_seed_is_stable_and_differs_per_ticker() -> None:
    assert ticker_seed(7, "CMIG4.SA") == ticker_seed(7, "CMIG4.SA")
    assert len({ticker_seed(7, t) for t in ("AAA", "BBB", "CMIG4.SA", "PETR4.SA")}) == 4
    assert ticker_seed(7, "AAA") != ticker_seed(8, "AAA")
    assert 0 <= ticker_seed(2**40, "AAA") < 2**32


@pytest.mark.parametrize(("a", "b"), [(("AAA", 7), ("BBB", 7)), (("AAA", 7), ("AAA", 8))])
def test_different_ticker_or_seed_gives_a_different_series(a, b) -> None:
    x, y = closes(*a), closes(*b)
    assert len(x) == len(y)
    assert not np.allclose(x, y)
    assert abs(np.corrcoef(np.diff(np.log(x)), np.diff(np.log(y)))[0, 1]) < 0.2


def test_settings_seed_changes_the_series(tmp_path) -> None:
    frames = [
        load_prices("synthetic", ["AAA"], DataSettings(dir=tmp_path, synthetic_seed=s)).frames
        for s in (1, 2)
    ]
    assert not np.allclose(frames[0]["AAA"]["close"], frames[1]["AAA"]["close"])


def test_dates_are_b3_sessions(data_settings) -> None:
    data = load_prices("synthetic", ["AAA"], data_settings)
    frame = data.frames["AAA"]
    expected = trading_days(START, END)
    assert pd.DatetimeIndex(frame["date"]).equals(expected)
    assert pd.Timestamp("2023-12-29") not in set(frame["date"])  # B3 closed
    assert pd.Timestamp("2024-02-14") in set(frame["date"])  # Ash Wednesday session


def test_bars_are_consistent_and_nothing_is_dropped(data_settings) -> None:
    data = load_prices("synthetic", ["AAA"], data_settings)
    frame, report = data.frames["AAA"], data.reports["AAA"]
    assert tuple(frame.columns) == PRICE_COLUMNS
    assert report.dropped == {} and report.rows_in == report.rows_out == len(frame)
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["close"] > 0).all() and (frame["volume"] > 0).all()


def test_start_and_end_slice_the_series(data_settings) -> None:
    start, end = date(2020, 3, 1), date(2020, 3, 31)
    frame = load_prices("synthetic", ["AAA"], data_settings, start, end).frames["AAA"]
    assert pd.DatetimeIndex(frame["date"]).equals(trading_days(start, end))


def test_a_longer_end_keeps_the_same_prefix() -> None:
    short, long = closes(end=date(2020, 12, 30)), closes()
    assert len(long) > len(short)
    np.testing.assert_array_equal(long[: len(short)], short)


def test_load_prices_ranges_agree_on_shared_days(data_settings) -> None:
    full = load_prices("synthetic", ["AAA"], data_settings).frames["AAA"]
    part = load_prices("synthetic", ["AAA"], data_settings, end=date(2019, 6, 28)).frames["AAA"]
    np.testing.assert_array_equal(full["close"].to_numpy()[: len(part)], part["close"].to_numpy())


def test_the_generator_has_both_regimes() -> None:
    vol = regimes(5000, np.random.default_rng(0), SyntheticSpec())
    levels, counts = np.unique(vol, return_counts=True)
    assert levels.tolist() == [CALM.daily_vol, TURBULENT.daily_vol]
    assert 0.1 < counts[1] / len(vol) < 0.5  # turbulent_share is 0.25


@pytest.mark.parametrize("ticker", ["CMIG4.SA", "PETR4.SA", "AAA"])
def test_volatility_regimes_show_in_the_returns(ticker: str) -> None:
    returns = pd.Series(np.diff(np.log(closes(ticker))))
    rolling = returns.rolling(40).std().dropna()
    low, high = rolling.quantile(0.05), rolling.quantile(0.95)
    assert high / low > 2
    assert low == pytest.approx(CALM.daily_vol, rel=0.35)


def test_reports_say_synthetic(data_settings) -> None:
    data = load_prices("synthetic", ["AAA"], data_settings)
    report = data.reports["AAA"]
    assert data.synthetic and data.kind == "synthetic"
    assert report.synthetic is True and report.source == "synthetic"
    assert "seed=7" in report.origin
    assert "synthetic" in report.summary() and report.summary().startswith("AAA (synthetic):")
    assert data.frames["AAA"].attrs == {"ticker": "AAA", "source": "synthetic"}
