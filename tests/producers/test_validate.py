"""validate_bars: every dropped row is counted under its reason; the output is sorted and clean."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import DataSettings
from producers.sources import load_prices
from producers.sources.validate import (
    DUPLICATE_DATE,
    FILLER_ROW,
    INVALID_DATE,
    NON_FINITE_CLOSE,
    NON_POSITIVE_CLOSE,
    validate_bars,
)
from schemas.prices import PRICE_COLUMNS

GOOD = [
    ("2024-01-02", 10.0, 11.0, 9.0, 10.5, 1000),
    ("2024-01-03", 10.5, 12.0, 10.0, 11.0, 2000),
    ("2024-01-04", 11.0, 11.5, 10.5, 11.2, 1500),
]


def bars(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(PRICE_COLUMNS))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (("not a date", 1.0, 1.0, 1.0, 1.0, 10), INVALID_DATE),
        (("2024-13-45", 1.0, 1.0, 1.0, 1.0, 10), INVALID_DATE),
        (("03/02/2024", 1.0, 1.0, 1.0, 1.0, 10), INVALID_DATE),  # no day/month order guessed
        (("Jan 5, 2024", 1.0, 1.0, 1.0, 1.0, 10), INVALID_DATE),
        ((None, 1.0, 1.0, 1.0, 1.0, 10), INVALID_DATE),
        (("2024-01-05", 1.0, 1.0, 1.0, np.nan, 10), NON_FINITE_CLOSE),
        (("2024-01-05", 1.0, 1.0, 1.0, np.inf, 10), NON_FINITE_CLOSE),
        (("2024-01-05", 1.0, 1.0, 1.0, -np.inf, 10), NON_FINITE_CLOSE),
        (("2024-01-05", 1.0, 1.0, 1.0, "n/a", 10), NON_FINITE_CLOSE),
        (("2024-01-05", 1.0, 1.0, 1.0, "", 10), NON_FINITE_CLOSE),
        (("2024-01-05", 1.0, 1.0, 1.0, 0.0, 10), NON_POSITIVE_CLOSE),
        (("2024-01-05", 1.0, 1.0, 1.0, -2.5, 10), NON_POSITIVE_CLOSE),
        (("2024-01-05", 7.0, 7.0, 7.0, 7.0, 0), FILLER_ROW),
        (("2024-01-05", "7", "7", "7", "7", "0"), FILLER_ROW),  # text, as read from a CSV
    ],
)
def test_each_bad_row_is_dropped_under_its_reason(bad: tuple, reason: str) -> None:
    checked = validate_bars(bars(*GOOD, bad))
    assert checked.dropped == {reason: 1}
    assert checked.rows_in == 4
    assert checked.frame["date"].dt.strftime("%Y-%m-%d").tolist() == [r[0] for r in GOOD]


@pytest.mark.parametrize(
    "row",
    [
        ("2024-01-05", 7.0, 7.0, 7.0, 7.0, 5),  # flat but traded
        ("2024-01-05", 7.0, 7.5, 7.0, 7.0, 0),  # no volume but not flat
        ("2024-01-05", 6.9, 7.0, 6.9, 7.0, 0),
        ("2024-01-05", 7.0, 7.0, 7.0, 7.0, np.nan),  # unknown volume
    ],
)
def test_rows_that_are_not_filler_are_kept(row: tuple) -> None:
    checked = validate_bars(bars(*GOOD, row))
    assert checked.dropped == {}
    assert len(checked.frame) == 4


def test_filler_dropping_can_be_turned_off() -> None:
    filler = ("2024-01-05", 7.0, 7.0, 7.0, 7.0, 0)
    checked = validate_bars(bars(*GOOD, filler), drop_filler=False)
    assert checked.dropped == {}
    assert checked.frame.iloc[-1]["close"] == 7.0 and checked.frame.iloc[-1]["volume"] == 0


def test_duplicate_dates_keep_the_last_row() -> None:
    frame = bars(
        ("2024-01-03", 1.0, 1.0, 1.0, 1.0, 10),
        ("2024-01-02", 5.0, 5.0, 5.0, 5.0, 10),
        ("2024-01-03", 2.0, 2.0, 2.0, 2.0, 20),
        ("2024-01-03", 3.0, 3.0, 3.0, 3.0, 30),
    )
    checked = validate_bars(frame)
    assert checked.dropped == {DUPLICATE_DATE: 2}
    assert checked.frame["close"].tolist() == [5.0, 3.0]
    assert checked.frame["volume"].tolist() == [10.0, 30.0]


def test_output_is_sorted_typed_and_reindexed() -> None:
    shuffled = bars(GOOD[2], GOOD[0], GOOD[1])
    checked = validate_bars(shuffled)
    frame = checked.frame
    assert tuple(frame.columns) == PRICE_COLUMNS
    assert frame["date"].is_monotonic_increasing
    assert frame.index.tolist() == [0, 1, 2]
    assert frame["date"].dtype == "datetime64[ns]"
    assert all(frame[c].dtype == "float64" for c in PRICE_COLUMNS[1:])
    assert frame["close"].tolist() == [10.5, 11.0, 11.2]
    assert shuffled["date"].tolist()[0] == "2024-01-04"  # the input is not modified


def test_dates_lose_time_and_zone() -> None:
    frame = pd.DataFrame(
        {"date": ["2024-01-02 00:00:00-03:00", "2024-01-03 00:00:00-03:00"], "close": [1, 2]}
    )
    checked = validate_bars(frame)
    assert checked.frame["date"].tolist() == list(pd.to_datetime(["2024-01-02", "2024-01-03"]))
    assert checked.frame["date"].dt.tz is None


def test_iso_dates_with_and_without_time_mix() -> None:
    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03 00:00:00"], "close": [1, 2]})
    checked = validate_bars(frame)
    assert checked.dropped == {}
    assert len(checked.frame) == 2


def test_missing_ohlv_columns_become_nan() -> None:
    checked = validate_bars(pd.DataFrame({"date": ["2024-01-02"], "close": ["3.5"]}))
    frame = checked.frame
    assert tuple(frame.columns) == PRICE_COLUMNS
    assert frame["close"].tolist() == [3.5]
    assert frame[["open", "high", "low", "volume"]].isna().all().all()


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2024, 1, 3), None, ["2024-01-03", "2024-01-04"]),
        (None, date(2024, 1, 3), ["2024-01-02", "2024-01-03"]),
        (date(2024, 1, 3), date(2024, 1, 3), ["2024-01-03"]),
        (date(2024, 1, 5), None, []),
    ],
)
def test_start_and_end_are_inclusive(start, end, expected: list[str]) -> None:
    checked = validate_bars(bars(*GOOD), start=start, end=end)
    assert checked.frame["date"].dt.strftime("%Y-%m-%d").tolist() == expected
    assert checked.rows_in == len(expected)
    assert checked.out_of_range == len(GOOD) - len(expected)
    assert tuple(checked.frame.columns) == PRICE_COLUMNS


def test_rows_in_counts_rows_in_range_and_undatable_ones() -> None:
    frame = bars(
        ("2024-01-01", 1.0, 1.0, 1.0, 1.0, 10),  # before start: neither in nor dropped
        ("2024-01-02", 1.0, 1.0, 1.0, 1.0, 10),
        ("2024-01-03", 1.0, 1.0, 1.0, np.nan, 10),
        ("garbage", 1.0, 1.0, 1.0, 1.0, 10),
        ("2024-01-04", 1.0, 1.0, 1.0, -1.0, 10),
        ("2024-01-05", 2.0, 2.0, 2.0, 2.0, 0),
        ("2024-01-05", 2.0, 2.5, 1.5, 2.0, 10),
    )
    checked = validate_bars(frame, start=date(2024, 1, 2))
    assert checked.rows_in == 6 and checked.out_of_range == 1
    assert checked.dropped == dict.fromkeys(
        [INVALID_DATE, NON_FINITE_CLOSE, NON_POSITIVE_CLOSE, FILLER_ROW], 1
    )
    assert checked.rows_in == len(checked.frame) + sum(checked.dropped.values())
    assert checked.frame["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-02", "2024-01-05"]


@pytest.mark.shared_data
def test_real_cmig4_reports_exactly_its_filler_rows(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "CMIG4.SA.csv"
    raw = pd.read_csv(path)
    flat = raw[["Open", "High", "Low"]].eq(raw["Close"], axis=0).all(axis=1)
    fillers = set(raw.loc[flat & (raw["Volume"] == 0), "Date"])
    assert "2018-01-25" in fillers

    data = load_prices(f"csv:{path}", [], DataSettings(dir=tmp_path))
    report, frame = data.reports["CMIG4.SA"], data.frames["CMIG4.SA"]
    assert report.dropped == {FILLER_ROW: len(fillers)}
    assert report.rows_in == len(raw) and report.rows_out == len(raw) - len(fillers)
    kept = set(frame["date"].dt.strftime("%Y-%m-%d"))
    assert set(raw["Date"]) - kept == fillers
    assert f"dropped {len(fillers)} {FILLER_ROW}" in report.summary()


@pytest.mark.shared_data
def test_real_file_keeps_filler_rows_when_told(shared_data: Path, tmp_path: Path) -> None:
    settings = DataSettings(dir=tmp_path, drop_filler_rows=False)
    report = load_prices(f"csv:{shared_data / 'CMIG4.SA.csv'}", [], settings).reports["CMIG4.SA"]
    assert report.dropped == {} and report.rows_out == report.rows_in == 1738


def test_a_row_bad_in_several_ways_counts_once_under_its_first_reason() -> None:
    """Dates, then the close, then filler, then duplicates: a duplicate of a dropped row is
    no duplicate, and a nullable integer column with a gap reads as floats with NaN."""
    raw = bars(
        *GOOD,
        ("not a date", 1.0, 1.0, 1.0, np.nan, 0),  # undated and no close: an invalid date
        ("2024-01-03", 1.0, 1.0, 1.0, -1.0, 0),  # a held date, but not positive
        ("2024-01-04", 5.0, 5.0, 5.0, 5.0, 0),  # a held date, but filler
        ("2024-01-02", 9.0, 9.5, 8.5, 9.2, 100),  # a later row of a held date: kept
    )
    raw["volume"] = pd.array([1000, 2000, None, 0, 0, 0, 100], dtype="Int64")
    result = validate_bars(raw)
    assert result.dropped == {
        INVALID_DATE: 1,
        NON_POSITIVE_CLOSE: 1,
        FILLER_ROW: 1,
        DUPLICATE_DATE: 1,
    }
    assert result.frame["close"].tolist() == [9.2, 11.0, 11.2]
    assert np.isnan(result.frame["volume"].iloc[2]) and result.frame["volume"].dtype == "float64"
