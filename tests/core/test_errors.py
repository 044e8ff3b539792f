"""One error root: every category maps to one HTTP status, and messages reach users intact."""

from __future__ import annotations

import pytest

from api.errors import status_for
from api.jobs import JobConflict
from backtest.engines import BacktestError
from core.errors import ConfigError, InputError, TickcastError, describe
from model.errors import InvalidWindowError, ModelNotFoundError, NotEnoughDataError
from producers.errors import SourceError, SourceUnavailable
from streams.broker import BrokerError


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidWindowError("window 1: ..."), 422),
        (NotEnoughDataError("too few closes"), 422),
        (SourceError("unknown source"), 422),
        (ConfigError("invalid TICKCAST_ settings"), 422),
        (ModelNotFoundError("no model"), 404),
        (JobConflict("job 1 is still running"), 409),
        (SourceUnavailable("Yahoo cannot be reached"), 503),
        (BrokerError("port in use"), 503),
        (BacktestError("only 3 of 9 forecasts came back"), 503),
    ],
)
def test_each_library_error_is_a_tickcast_error_with_one_status(error, status) -> None:
    assert isinstance(error, TickcastError)
    assert status_for(error) == status


def test_input_errors_are_still_value_errors() -> None:
    assert issubclass(InputError, ValueError)  # callers that catch ValueError keep working


def test_describe_names_each_field() -> None:
    errors = [
        {"loc": ("body", "last_prices", 3), "msg": "Input should be a finite number"},
        {"loc": (), "msg": "Field required"},
    ]
    assert (
        describe(errors) == "last_prices.3: Input should be a finite number; value: Field required"
    )
