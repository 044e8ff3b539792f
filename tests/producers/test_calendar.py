"""B3 sessions from exchange-calendars: weekends, holidays and the half-day Ash Wednesday."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest

from producers.calendar import next_trading_day, sessions_before, trading_days


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2023, 12, 28), date(2024, 1, 2)),  # B3 closed 2023-12-29 and 2024-01-01
        (date(2022, 12, 29), date(2023, 1, 2)),  # ... and 2022-12-30
        (date(2024, 3, 1), date(2024, 3, 4)),  # Friday -> Monday
        (date(2024, 3, 2), date(2024, 3, 4)),  # Saturday -> Monday
        (date(2024, 3, 3), date(2024, 3, 4)),  # Sunday -> Monday
        (date(2024, 1, 2), date(2024, 1, 3)),  # strictly after a session
        (date(2024, 2, 9), date(2024, 2, 14)),  # Carnival; Ash Wednesday (13:00 open) counts
        (date(2024, 12, 23), date(2024, 12, 26)),  # Christmas Eve and Christmas
        (date(2024, 12, 30), date(2025, 1, 2)),  # New Year's Eve and Day
        (date(2024, 11, 19), date(2024, 11, 21)),  # Black Consciousness Day, new in 2024
    ],
)
def test_next_trading_day(day: date, expected: date) -> None:
    assert next_trading_day(day) == expected


def test_trading_days_2024() -> None:
    days = trading_days(date(2024, 1, 1), date(2024, 12, 31))
    assert len(days) == 251
    assert days.tz is None and days.is_monotonic_increasing and days.is_unique
    assert (days.dayofweek < 5).all()
    assert (days.normalize() == days).all()
    as_dates = set(days.date)
    for holiday in (date(2024, 1, 1), date(2024, 2, 12), date(2024, 2, 13), date(2024, 12, 25)):
        assert holiday not in as_dates
    assert date(2024, 2, 14) in as_dates
    assert days[0].date() == date(2024, 1, 2) and days[-1].date() == date(2024, 12, 30)


def test_trading_days_bounds_are_inclusive() -> None:
    days = trading_days(date(2024, 2, 8), date(2024, 2, 16))
    assert [d.date() for d in days] == [
        date(2024, 2, 8),
        date(2024, 2, 9),
        date(2024, 2, 14),
        date(2024, 2, 15),
        date(2024, 2, 16),
    ]


def test_trading_days_empty_when_end_before_start() -> None:
    assert len(trading_days(date(2024, 2, 1), date(2024, 1, 1))) == 0


def test_trading_days_agrees_with_next_trading_day() -> None:
    days = trading_days(date(2023, 12, 1), date(2024, 3, 31))
    for before, after in pairwise(days):
        assert next_trading_day(before.date()) == after.date()


@pytest.mark.parametrize(
    ("day", "count", "expected"),
    [
        (date(2024, 1, 2), 0, date(2024, 1, 2)),
        (date(2024, 1, 2), 1, date(2023, 12, 28)),
        (date(2024, 1, 6), 1, date(2024, 1, 5)),  # a Saturday rolls to Monday first
        (date(2024, 2, 14), 1, date(2024, 2, 9)),
        (date(2024, 2, 12), 1, date(2024, 2, 9)),  # a holiday rolls to the next session
    ],
)
def test_sessions_before(day: date, count: int, expected: date) -> None:
    assert sessions_before(day, count) == expected


@pytest.mark.parametrize("count", [5, 60, 250, 2500])
def test_sessions_before_counts_sessions(count: int) -> None:
    day = date(2024, 12, 30)
    first = sessions_before(day, count)
    assert len(trading_days(first, day)) == count + 1
    assert len(trading_days(first + timedelta(days=1), day)) == count
