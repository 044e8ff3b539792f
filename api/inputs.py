"""Dates a request may name: the span the B3 calendar covers. (A feed price is held to
`model.forecaster.tick_problem`, the stream's rule too.)"""

from __future__ import annotations

import datetime as dt

from core.errors import InputError
from producers.calendar import FIRST_DAY, LAST_DAY

DATE_RANGE = f"{FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()}"


class DateOutOfRange(InputError):
    """A date the B3 calendar does not cover: a 422, where it used to be a 500."""


def check_as_of(as_of: dt.date | None, where: str = "as_of") -> None:
    """422 naming the accepted range, before any calendar is consulted."""
    if as_of is not None and not FIRST_DAY <= as_of <= LAST_DAY:
        raise DateOutOfRange(
            f"{where}: {as_of.isoformat()} is outside the accepted range {DATE_RANGE}"
        )
