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
    synthetic: bool = Field(
        False,
        description="Invented prices (the synthetic source). The worker never mixes them with "
        "real closes of the same ticker: a close of the other kind starts the ticker afresh.",
    )
    produced_at: dt.datetime = Field(default_factory=utc_now)


class TrainedOn(BaseModel):
    """What a model saw in training: every forecast, report and model reply carries it."""

    source_kind: str = Field(
        description="yahoo, csv or synthetic; synthetic prices were invented, not observed."
    )
    tickers: list[str]
    start: dt.date | None = Field(None, description="First training target date.")
    end: dt.date | None = Field(None, description="Last training target date.")

    @property
    def synthetic(self) -> bool:
        return self.source_kind == "synthetic"

    def describe(self) -> str:
        """One line for screens and reports: 'csv prices of CMIG4.SA, 2005-03-01..2021-06-30'."""
        span = f", {self.start}..{self.end}" if self.start and self.end else ""
        kind = "synthetic (invented)" if self.synthetic else self.source_kind
        return f"{kind} prices of {', '.join(self.tickers)}{span}"


class Forecast(Message):
    """A D+1 forecast, emitted on `forecasts` for every new close once the window is full.

    Version 2 adds `id`, the quantiles, `volatility`, `interval_method`, `synthetic` and
    `trained_on`; version 1 messages still parse (with those empty).
    """

    schema_version: Literal[1, 2] = 2
    id: str | None = Field(
        None,
        description="Deterministic from ticker, as_of and model version: a repeat after a "
        "worker restart carries the same id, so drop messages whose id you have seen.",
    )
    ticker: str
    as_of: dt.date = Field(description="Date of the last close in the window.")
    target_date: dt.date = Field(description="The next B3 trading day after as_of.")
    predicted_close: float
    predicted_return: float = Field(description="log(predicted_close / last_close).")
    last_close: float
    model_name: str
    model_version: str
    drift: DriftReport
    quantiles: dict[str, float] = Field(
        default_factory=dict,
        description='The next close by quantile level: "0.025", "0.1", "0.5", "0.9", "0.975" '
        "always, and any level the settings add. They never cross.",
    )
    return_quantiles: dict[str, float] = Field(
        default_factory=dict, description="The same levels as log returns from last_close."
    )
    volatility: float | None = Field(
        None, description="Predicted standard deviation of the next log return."
    )
    interval_method: Literal["split-conformal", "aci"] | None = Field(
        None,
        description="split-conformal: calibrated on the validation split at training; aci: "
        "the stream's adaptive conformal inference, corrected online per ticker.",
    )
    synthetic: bool = Field(
        False, description="Made from synthetic (invented) prices: not a forecast of a market."
    )
    trained_on: TrainedOn | None = Field(
        None, description="What the model saw in training; None for models older than this."
    )
    produced_at: dt.datetime = Field(default_factory=utc_now)


class DriftAlert(Message):
    """Sent on `drift-alerts` when a ticker enters or leaves drift (`kind` data), or when the
    model stops or starts again earning its place (`kind` performance, with a `reason`).

    Version 2 adds `id`, `kind` and `reason`; a version 1 message reads as kind `data`.
    """

    schema_version: Literal[1, 2] = 2
    id: str | None = Field(None, description="Deterministic: repeats carry the same id.")
    kind: Literal["data", "performance"] = "data"
    reason: Literal["skill", "coverage"] | None = Field(
        None,
        description="For performance alerts: skill (rolling 60-session error worse than "
        "naive, one-sided Diebold-Mariano p < 0.05) or coverage (the 80% interval's rolling "
        "coverage outside its binomial 95% band).",
    )
    ticker: str
    as_of: dt.date
    state: Literal["entered", "recovered"]
    statistics: list[DriftStatistic]
    model_name: str
    model_version: str
    produced_at: dt.datetime = Field(default_factory=utc_now)


class RollingScores(BaseModel):
    """A ticker's last scored sessions under one model version."""

    n: int = Field(description="Sessions in the window (fewer until that many were scored).")
    mase: float | None = Field(description="Model MAE / naive MAE; None while naive MAE is 0.")
    coverage_80: float
    coverage_95: float
    pinball: float = Field(description="Mean pinball loss over the five levels, log returns.")


class ForecastScore(Message):
    """A forecast checked against the close of its target date, on `forecast-scores`."""

    id: str = Field(description="Deterministic from the forecast's id: repeats share it.")
    forecast_id: str
    ticker: str
    as_of: dt.date
    target_date: dt.date
    model_name: str
    model_version: str
    predicted_close: float
    actual_close: float
    error: float = Field(description="actual_close - predicted_close.")
    abs_error: float
    pct_error: float = Field(description="100 * error / actual_close.")
    naive_error: float = Field(description="actual_close - last close: 'tomorrow = today'.")
    covered_80: bool
    covered_95: bool
    pinball: float = Field(description="Mean pinball loss over the five levels, log returns.")
    rolling: dict[str, RollingScores] = Field(
        description='Over the last "20" and "60" scored sessions of this ticker and version.'
    )
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
    "forecast_score": ForecastScore,
    "drift_alert": DriftAlert,
    "dead_letter": DeadLetter,
    "model_event": ModelEvent,
}
