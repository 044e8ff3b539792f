"""Messages on the bus: keyed by ticker, with the trading date as record timestamp."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.drift import DriftReport, DriftStatistic

SCHEMA_VERSION = 1


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Message(BaseModel):
    """Base of every bus message: strict about unknown versions, tolerant of extra fields."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = SCHEMA_VERSION


class PriceTick(Message):
    """One daily bar of one ticker, as published on `prices`."""

    ticker: str = Field(min_length=1, max_length=32, examples=["CMIG4.SA"])
    date: dt.date = Field(description="Trading date of the bar.")
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float = Field(
        gt=0,
        allow_inf_nan=False,
        description="The close the forecaster reads; finite, positive.",
    )
    volume: float | None = None
    source: str = Field(description="yahoo, csv:PATH or synthetic.")
    produced_at: dt.datetime = Field(default_factory=utc_now)


class Forecast(Message):
    """A D+1 forecast, emitted on `forecasts` for every new close once the window is full."""

    ticker: str
    as_of: dt.date = Field(description="Date of the last close in the window.")
    target_date: dt.date = Field(description="The next B3 trading day after as_of.")
    predicted_close: float
    predicted_return: float = Field(description="log(predicted_close / last_close).")
    last_close: float
    model_name: str
    model_version: str
    drift: DriftReport
    produced_at: dt.datetime = Field(default_factory=utc_now)


class DriftAlert(Message):
    """Sent on `drift-alerts` when a ticker enters drift and when it recovers."""

    ticker: str
    as_of: dt.date
    state: Literal["entered", "recovered"]
    statistics: list[DriftStatistic]
    model_name: str
    model_version: str
    produced_at: dt.datetime = Field(default_factory=utc_now)


class DeadLetter(Message):
    """A message the worker could not use, with why, on `prices.dlq`."""

    source_topic: str
    partition: int
    offset: int
    key: str | None = None
    payload: str = Field(description="The raw value, decoded as UTF-8 with replacement.")
    error: str
    failed_at: dt.datetime = Field(default_factory=utc_now)


class ModelEvent(Message):
    """Announces a registry change on `model-events`; workers reload the alias it names."""

    event: Literal["promoted"] = "promoted"
    model_name: str
    model_version: str
    alias: str = "champion"
    produced_at: dt.datetime = Field(default_factory=utc_now)


#: Every bus contract, by the file stem of its generated JSON Schema.
BUS_MESSAGES: dict[str, type[Message]] = {
    "price_tick": PriceTick,
    "forecast": Forecast,
    "drift_alert": DriftAlert,
    "dead_letter": DeadLetter,
    "model_event": ModelEvent,
}
