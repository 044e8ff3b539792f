"""The one error root. Every message is written for the user and says what to do next.

The CLI prints any `TickcastError` as one line and exits 1; the API answers by category:
`InputError` 422, `NotFoundError` 404, `ConflictError` 409, `UnavailableError` 503.
Packages subclass these for their own cases (a bad price source, a bad window...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class TickcastError(Exception):
    """Root of every error tickcast raises on purpose."""


class InputError(TickcastError, ValueError):
    """Input the user can fix: a bad window, source, date range or setting."""


class NotFoundError(TickcastError, LookupError):
    """Something asked for by name does not exist (a model version, a job, a ticker)."""


class ConflictError(TickcastError):
    """The request clashes with what is running now (a training job, a port in use)."""


class UnavailableError(TickcastError):
    """A service tickcast needs is out of reach (Yahoo, Kafka, the MLflow store)."""


class KafkaUnreachableError(UnavailableError):
    """No broker answered at the configured address within the start-up timeout."""


class ConfigError(InputError):
    """TICKCAST_ settings that do not validate."""


def describe(errors: Iterable[Any]) -> str:
    """'last_prices.3: Input should be a finite number; ...' from pydantic's error list."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'value'}: {e['msg']}"
        for e in errors
    )
