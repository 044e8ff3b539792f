"""Sliding windows of closes and their chronological split, per ticker."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from model.windows import SPLITS, concat, make_windows, split_windows

W = 5


def _frame(n: int, start: str = "2024-01-01") -> pd.DataFrame:
    return pd.DataFrame(
        {"date": pd.bdate_range(start, periods=n), "close": np.arange(1.0, n + 1.0)}
    )


def _two_tickers(window: int = 10):
    return concat(
        [
            make_windows(_frame(200, "2020-01-01"), "AAA", window),  # 190 windows
            make_windows(_frame(120, "2021-06-01"), "BBB", window),  # 110 windows
        ]
    )


def test_make_windows_alignment() -> None:
    frame = _frame(12)
    dates = frame["date"].to_numpy().astype("datetime64[D]")
    windows = make_windows(frame, "AAA", W)
    assert len(windows) == 12 - W  # 7: every window that has a next close
    assert windows.closes.shape == (7, W)
    for i in range(len(windows)):
        # window i holds closes i+1 .. i+W (closes are 1..12), predicts the next one
        np.testing.assert_array_equal(windows.closes[i], np.arange(i + 1.0, i + W + 1.0))
        assert windows.target[i] == i + W + 1.0
        assert windows.last[i] == i + W
        assert windows.as_of[i] == dates[i + W - 1]  # date of the window's last close
        assert windows.target_date[i] == dates[i + W]  # date of the close it predicts
    assert set(windows.ticker) == {"AAA"}
    assert windows.span() == f"{dates[W]}..{dates[-1]}"


def test_windows_own_their_memory() -> None:
    windows = make_windows(_frame(12), "AAA", W)
    windows.closes[0, 0] = -1.0
    assert windows.closes[1, 0] == 2.0  # not a view onto overlapping windows


@pytest.mark.parametrize(("n", "expected"), [(0, 0), (1, 0), (W - 1, 0), (W, 0), (W + 1, 1)])
def test_needs_window_plus_one_closes(n: int, expected: int) -> None:
    windows = make_windows(_frame(n), "AAA", W)
    assert len(windows) == expected
    assert windows.closes.shape == (expected, W)
    if not expected:
        assert windows.span() == "empty"


def test_split_by_fractions_is_chronological_per_ticker() -> None:
    windows = _two_tickers()
    # shuffle, so the split has to sort by date rather than trust the input order
    shuffled = windows.take(np.random.default_rng(0).permutation(len(windows)))
    splits = split_windows(shuffled, train_fraction=0.7, valid_fraction=0.15)
    assert tuple(splits) == SPLITS
    assert sum(len(s) for s in splits.values()) == len(windows)
    for ticker, total in (("AAA", 190), ("BBB", 110)):
        parts = [splits[name].for_ticker(ticker) for name in SPLITS]
        assert sum(len(p) for p in parts) == total
        for part, fraction in zip(parts, (0.70, 0.15, 0.15), strict=True):
            assert abs(len(part) - fraction * total) <= 1
        train, valid, test = (p.target_date for p in parts)
        assert train.max() < valid.min()
        assert valid.max() < test.min()
        # each target lands in exactly one split
        all_dates = np.concatenate([train, valid, test])
        assert len(np.unique(all_dates)) == total


def test_split_by_dates() -> None:
    windows = _two_tickers()
    valid_start, test_start = date(2020, 9, 1), date(2021, 10, 1)
    splits = split_windows(
        windows,
        train_fraction=0.7,
        valid_fraction=0.15,
        valid_start=valid_start,
        test_start=test_start,
    )
    vs, ts = np.datetime64(valid_start, "D"), np.datetime64(test_start, "D")
    assert sum(len(s) for s in splits.values()) == len(windows)
    assert all(len(s) > 0 for s in splits.values())
    assert (splits["train"].target_date < vs).all()
    assert ((splits["valid"].target_date >= vs) & (splits["valid"].target_date < ts)).all()
    assert (splits["test"].target_date >= ts).all()
    # BBB starts in June 2021: it has no train windows, its first targets validate
    assert len(splits["train"].for_ticker("BBB")) == 0
    assert len(splits["valid"].for_ticker("BBB")) > 0
    # the dates, not the fractions, decide
    assert len(splits["train"]) == int((windows.target_date < vs).sum())


@pytest.mark.parametrize(
    ("valid_start", "test_start", "message"),
    [
        (date(2020, 9, 1), None, "both"),
        (None, date(2021, 1, 4), "both"),
        (date(2021, 1, 4), date(2021, 1, 4), "after"),
        (date(2021, 1, 4), date(2020, 9, 1), "after"),
    ],
)
def test_split_rejects_bad_dates(valid_start, test_start, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_windows(
            _two_tickers(),
            train_fraction=0.7,
            valid_fraction=0.15,
            valid_start=valid_start,
            test_start=test_start,
        )


def test_concat_keeps_order_and_all_fields() -> None:
    a = make_windows(_frame(8, "2020-01-01"), "AAA", W)
    b = make_windows(_frame(10, "2022-01-03"), "BBB", W)
    both = concat([a, b])
    assert len(both) == len(a) + len(b) == 3 + 5
    assert list(both.ticker) == ["AAA"] * 3 + ["BBB"] * 5
    np.testing.assert_array_equal(both.closes, np.vstack([a.closes, b.closes]))
    np.testing.assert_array_equal(both.target, np.concatenate([a.target, b.target]))
    np.testing.assert_array_equal(both.as_of[3:], b.as_of)
    np.testing.assert_array_equal(both.target_date[:3], a.target_date)


def test_concat_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        concat([])


def test_for_ticker() -> None:
    windows = _two_tickers()
    bbb = windows.for_ticker("BBB")
    assert len(bbb) == 110
    assert set(bbb.ticker) == {"BBB"}
    np.testing.assert_array_equal(bbb.target, np.arange(11.0, 121.0))
    assert len(windows.for_ticker("ZZZ")) == 0
