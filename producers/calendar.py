"""B3 trading days, from exchange-calendars (calendar BVMF).

One calendar covers every day this module answers about, built once per process: building
one per new year asked about blocked the API's event loop for each request that did.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd
from exchange_calendars.errors import DateOutOfBounds, RequestedSessionOutOfBounds

from core.errors import InputError

B3_CALENDAR = "BVMF"
#: The days the functions below accept (inclusive); outside them they raise CalendarRangeError.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)
#: The span actually built: a decade of room before FIRST_DAY for `sessions_before`, and a
#: year after LAST_DAY for the session that follows it.
_BUILT_FROM = date(1960, 1, 1)
_BUILT_TO = date(2200, 12, 31)

_building = threading.Lock()


class CalendarRangeError(InputError):
    """A day outside the span the B3 calendar is built for."""


def _out_of_range(day: date) -> CalendarRangeError:
    return CalendarRangeError(
        f"{day.isoformat()} is outside the B3 calendar's range "
        f"{FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()}"
    )


def _check(*days: date) -> None:
    for day in days:
        if not FIRST_DAY <= day <= LAST_DAY:
            raise _out_of_range(day)


@lru_cache(maxsize=1)
def _calendar() -> xcals.ExchangeCalendar:
    """The one calendar; the lock keeps two first callers from building it twice."""
    with _building:
        return xcals.get_calendar(
            B3_CALENDAR, start=_BUILT_FROM.isoformat(), end=_BUILT_TO.isoformat()
        )


def trading_days(start: date, end: date) -> pd.DatetimeIndex:
    """B3 sessions in [start, end], as naive midnight timestamps."""
    if end < start:
        return pd.DatetimeIndex([])
    _check(start, end)
    sessions = _calendar().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions)


@lru_cache(maxsize=16_384)
def next_trading_day(day: date) -> date:
    """The first B3 session strictly after `day`."""
    _check(day)
    calendar = _calendar()
    ts = pd.Timestamp(day)
    following = calendar.date_to_session(ts, direction="next")
    if following == ts and calendar.is_session(ts):
        following = calendar.next_session(ts)
    return following.date()


def sessions_before(day: date, count: int) -> date:
    """The B3 session `count` sessions before `day`: where data must start to fill windows."""
    _check(day)
    calendar = _calendar()
    try:
        ts = calendar.date_to_session(pd.Timestamp(day), direction="next")
        return calendar.session_offset(ts, -count).date()
    except (DateOutOfBounds, RequestedSessionOutOfBounds) as exc:
        raise CalendarRangeError(
            f"{count} sessions before {day.isoformat()} reach past the B3 calendar's start "
            f"({_BUILT_FROM.isoformat()})"
        ) from exc


B3_TIMEZONE = ZoneInfo("America/Sao_Paulo")


def b3_today() -> date:
    """Today's date on B3's wall clock, which says which session a close can belong to."""
    return datetime.now(B3_TIMEZONE).date()
