"""The checks a request and a price from the feed share: dates the calendar covers, and
prices a forecast could read (finite, positive, inside the ForecastSettings bounds)."""

from __future__ import annotations

import datetime as dt
import logging
import math

from core.config import ForecastSettings
from core.errors import InputError
from producers.calendar import FIRST_DAY, LAST_DAY
from schemas.messages import PriceTick

logger = logging.getLogger(__name__)

DATE_RANGE = f"{FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()}"


class DateOutOfRange(InputError):
    """A date the B3 calendar does not cover: a 422, where it used to be a 500."""


def check_as_of(as_of: dt.date | None, where: str = "as_of") -> None:
    """422 naming the accepted range, before any calendar is consulted."""
    if as_of is not None and not FIRST_DAY <= as_of <= LAST_DAY:
        raise DateOutOfRange(
            f"{where}: {as_of.isoformat()} is outside the accepted range {DATE_RANGE}"
        )


def price_problem(tick: PriceTick, bounds: ForecastSettings) -> str | None:
    """Why `tick` must not be served, or None: the rules a /predict body is held to."""
    if not FIRST_DAY <= tick.date <= LAST_DAY:
        return f"date {tick.date.isoformat()} outside {DATE_RANGE}"
    for name in ("close", "open", "high", "low"):
        value = getattr(tick, name)
        if value is None:
            continue
        if not math.isfinite(value) or value <= 0:
            return f"{name} {value!r} is not a finite positive price"
        if not bounds.min_price <= value <= bounds.max_price:
            return (
                f"{name} {value!r} is outside the plausible prices "
                f"{bounds.min_price:g}..{bounds.max_price:g}"
            )
    return None
