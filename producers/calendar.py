"""B3 trading days, from exchange-calendars (calendar BVMF).

Every answer comes from one sorted array of the calendar's sessions, built once per process:
building one calendar per new year asked about blocked the API's event loop for each request
that did. Building it takes exchange-calendars 0.3-0.5 s (and its import 0.2 s), more than a
one-ticker backtest's replay, so a process told where (`use_cache`) keeps the array on disk,
in a file named after the exchange-calendars version and the span built: a new version of
the rules builds and writes it anew, and a file that does not read back whole is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from datetime import date, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.errors import InputError
from core.files import write_atomically

B3_CALENDAR = "BVMF"
#: The days the functions below accept (inclusive); outside them they raise CalendarRangeError.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)
#: The span actually built: a decade of room before FIRST_DAY for `sessions_before`, and a
#: year after LAST_DAY for the session that follows it.
_BUILT_FROM = date(1960, 1, 1)
_BUILT_TO = date(2200, 12, 31)
_CACHE_FORMAT = 1  # bump when what the file holds changes

_building = threading.Lock()
_cache_folder: Path | None = None


def __getattr__(name: str) -> ModuleType:
    """`xcals`, exchange-calendars itself, imported only when the sessions are built."""
    if name == "xcals":
        import exchange_calendars

        return exchange_calendars
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def use_cache(folder: Path) -> None:
    """Keep the sessions in `folder` (the data dir's cache), for this process's first use."""
    global _cache_folder
    _cache_folder = folder


def cache_file(folder: Path) -> Path:
    """The sessions' file in `folder`, named after what decides its content."""
    version = metadata.version("exchange_calendars")
    what = f"{B3_CALENDAR}|{_BUILT_FROM}|{_BUILT_TO}|exchange_calendars={version}|{_CACHE_FORMAT}"
    return folder / f"b3-sessions-{hashlib.sha256(what.encode()).hexdigest()[:16]}.npy"


def _built() -> np.ndarray:
    from producers import calendar  # the module attribute `xcals`, as tests may patch it

    built = calendar.xcals.get_calendar(
        B3_CALENDAR, start=_BUILT_FROM.isoformat(), end=_BUILT_TO.isoformat()
    )
    sessions = built.sessions
    sessions = sessions.tz_localize(None) if sessions.tz else sessions
    return sessions.to_numpy().astype("datetime64[D]")


def _whole(sessions: object) -> bool:
    """A sessions array as `_built` makes it: days, strictly increasing, inside the span."""
    return (
        isinstance(sessions, np.ndarray)
        and sessions.dtype == np.dtype("datetime64[D]")
        and sessions.ndim == 1
        and sessions.size > 0
        and bool(np.all(np.diff(sessions) > np.timedelta64(0, "D")))
        and sessions[0] >= np.datetime64(_BUILT_FROM, "D")
        and sessions[-1] <= np.datetime64(_BUILT_TO, "D")
    )


def _read(path: Path) -> np.ndarray | None:
    try:
        sessions = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return sessions if _whole(sessions) else None


def _write(path: Path, sessions: np.ndarray) -> None:
    """Written whole: a reader sees a whole file or none."""
    content = io.BytesIO()
    np.save(content, sessions, allow_pickle=False)
    with contextlib.suppress(OSError):  # a cache that cannot be written costs the next build
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, content.getvalue())


@lru_cache(maxsize=1)
def _sessions() -> np.ndarray:
    """Every B3 session of the span built, ascending (datetime64[D]); the lock keeps two
    first callers from building it twice."""
    with _building:
        path = cache_file(_cache_folder) if _cache_folder is not None else None
        sessions = _read(path) if path is not None else None
        if sessions is None:
            sessions = _built()
            if path is not None:
                _write(path, sessions)
        return sessions


def _day(day: date) -> np.datetime64:
    return np.datetime64(day, "D")


def trading_days(start: date, end: date) -> pd.DatetimeIndex:
    """B3 sessions in [start, end], as naive midnight timestamps."""
    if end < start:
        return pd.DatetimeIndex([])
    _check(start, end)
    sessions = _sessions()
    first = np.searchsorted(sessions, _day(start), side="left")
    last = np.searchsorted(sessions, _day(end), side="right")
    return pd.DatetimeIndex(sessions[first:last].astype("datetime64[ns]"))


@lru_cache(maxsize=16_384)
def next_trading_day(day: date) -> date:
    """The first B3 session strictly after `day`."""
    _check(day)
    sessions = _sessions()
    return sessions[np.searchsorted(sessions, _day(day), side="right")].item()


def sessions_before(day: date, count: int) -> date:
    """The B3 session `count` sessions before `day`: where data must start to fill windows.

    `day` itself counts from the first session on or after it."""
    _check(day)
    sessions = _sessions()
    position = int(np.searchsorted(sessions, _day(day), side="left")) - count
    if not 0 <= position < sessions.size:
        raise CalendarRangeError(
            f"{count} sessions before {day.isoformat()} reach past the B3 calendar's start "
            f"({_BUILT_FROM.isoformat()})"
        )
    return sessions[position].item()


B3_TIMEZONE = ZoneInfo("America/Sao_Paulo")


def b3_today() -> date:
    """Today's date on B3's wall clock, which says which session a close can belong to."""
    return datetime.now(B3_TIMEZONE).date()
