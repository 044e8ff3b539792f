"""B3 trading days, from exchange-calendars (calendar BVMF)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

B3_CALENDAR = "BVMF"


@lru_cache(maxsize=8)
def _build(first_year: int, last_year: int) -> xcals.ExchangeCalendar:
    return xcals.get_calendar(B3_CALENDAR, start=f"{first_year}-01-01", end=f"{last_year}-12-31")


def _calendar(first: date, last: date | None = None) -> xcals.ExchangeCalendar:
    """A calendar covering [first, last] with a year of room, from 2000 at the latest."""
    last_year = max((last or first).year, date.today().year) + 1
    return _build(min(first.year - 1, 2000), last_year)


def trading_days(start: date, end: date) -> pd.DatetimeIndex:
    """B3 sessions in [start, end], as naive midnight timestamps."""
    if end < start:
        return pd.DatetimeIndex([])
    calendar = _calendar(start, end)
    sessions = calendar.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions)


@lru_cache(maxsize=16_384)
def next_trading_day(day: date) -> date:
    """The first B3 session strictly after `day`."""
    calendar = _calendar(day)
    ts = pd.Timestamp(day)
    following = calendar.date_to_session(ts, direction="next")
    if following == ts and calendar.is_session(ts):
        following = calendar.next_session(ts)
    return following.date()


def sessions_before(day: date, count: int) -> date:
    """The B3 session `count` sessions before `day`: where data must start to fill windows."""
    calendar = _calendar(date(day.year - 1 - count // 200, 1, 1), day)
    ts = calendar.date_to_session(pd.Timestamp(day), direction="next")
    return calendar.session_offset(ts, -count).date()
