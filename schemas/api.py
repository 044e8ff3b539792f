"""HTTP contracts of the sidecar: requests are strict, so bad input is a 422 that says why."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, create_model

from core.config import Hyperparameters
from schemas.drift import DriftReport
from schemas.messages import ForecastScore, RollingScores, TrainedOn
from schemas.metrics import MetricSet

# Strict: "1.5" (a string) is rejected, not converted; NaN and Infinity tokens are rejected.
Price = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]

EXAMPLE_WINDOW = [round(9.0 + 0.01 * i, 2) for i in range(60)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"last_prices": EXAMPLE_WINDOW, "ticker": "CMIG4.SA"}]},
    )

    last_prices: list[Price] = Field(
        min_length=1,
        max_length=10_000,
        description="The last closes, oldest first; exactly the model's window (60).",
    )
    ticker: str | None = Field(
        None, max_length=32, description="Picks the drift baseline and adds target_date."
    )
    as_of: dt.date | None = Field(
        None, description="Date of the last price (default: the last of dates, else today)."
    )
    dates: list[dt.date] | None = Field(
        None,
        max_length=10_000,
        description="Optional: each price's date, oldest first, as GET /sample-data gives them; "
        "the last one is the as_of.",
    )
    last_opens: list[Price] | None = Field(
        None,
        max_length=10_000,
        description="Optional: each day's open, as many as last_prices. With highs and lows, "
        "the volatility reads each day's range, which is far less noisy than its close.",
    )
    last_highs: list[Price] | None = Field(None, max_length=10_000)
    last_lows: list[Price] | None = Field(None, max_length=10_000)


class PredictResponse(BaseModel):
    predicted_price: float
    predicted_return: float = Field(description="log(predicted_price / last price).")
    last_price: float
    ticker: str | None = None
    target_date: dt.date | None = Field(None, description="Next B3 trading day, with a ticker.")
    quantiles: dict[str, float] = Field(
        description='The next close by level: "0.025", "0.1", "0.5", "0.9", "0.975" (and any '
        "the settings add); they never cross."
    )
    return_quantiles: dict[str, float] = Field(description="The same levels as log returns.")
    volatility: float = Field(description="Predicted standard deviation of the next log return.")
    interval_method: Literal["split-conformal"] = Field(
        description="Calibrated on the validation split at training. The stream's forecasts "
        "also correct themselves online (aci); this endpoint has no stream state."
    )
    drift_warning: bool
    drift_details: DriftReport
    model_name: str
    model_version: str
    trained_on: TrainedOn | None = Field(
        None, description="What the model saw in training: synthetic means invented prices."
    )


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    windows: list[PredictRequest] = Field(min_length=1, description="Up to 1,000 windows.")


class BatchPredictResponse(BaseModel):
    predictions: list[PredictResponse]


#: Overrides of `Hyperparameters` for the next run: the same fields, all optional. Derived,
#: not declared again; ranges are checked when merged (`Hyperparameters.with_overrides`).
HyperparameterOverrides: type[BaseModel] = create_model(
    "HyperparameterOverrides",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Overrides for the next training run; omitted fields keep their value.",
    **{
        name: (info.annotation | None, Field(None, description=info.description))
        for name, info in Hyperparameters.model_fields.items()
    },
)


class TrainRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"source": "synthetic", "tickers": ["CMIG4.SA"]}]},
    )

    source: str = Field(
        "synthetic",
        description="synthetic, yahoo, or csv:PATH with PATH inside the API's "
        "TICKCAST_API__TRAIN_DATA_DIR (options as in the CLI: ?dayfirst=true&decimal=,&sep=;).",
    )
    tickers: list[str] = Field(default_factory=lambda: ["CMIG4.SA"], min_length=1, max_length=50)
    start: dt.date | None = Field(None, description="First date read (default: the earliest).")
    end: dt.date | None = Field(None, description="Last date read (default: the latest).")
    valid_start: dt.date | None = Field(
        None,
        description="First validation target date; with test_start, the dates split the data "
        "and train_fraction and valid_fraction are not used. Give both or neither.",
    )
    test_start: dt.date | None = Field(None, description="First test target date.")
    hyperparameters: HyperparameterOverrides = Field(  # type: ignore[valid-type]
        default_factory=HyperparameterOverrides,
        description="Overrides of GET /config for this run; an unknown name is a 422 that "
        "lists the accepted ones.",
    )


JobState = Literal["queued", "running", "succeeded", "failed"]


class TrainJob(BaseModel):
    job_id: str
    state: JobState
    epoch: int = 0
    max_epochs: int
    losses: dict[str, float] = Field(default_factory=dict)
    model_version: str | None = None
    promoted: bool | None = Field(None, description="Whether it became the champion.")
    alias: str | None = Field(None, description="The alias it took: champion or synthetic.")
    promotion_reason: str | None = None
    metrics: dict[str, MetricSet] | None = None
    error: str | None = None
    submitted_at: dt.datetime
    finished_at: dt.datetime | None = None


class ModelInfo(BaseModel):
    name: str
    version: str
    aliases: list[str]
    run_id: str | None
    params: dict[str, str]
    metrics: dict[str, float] = Field(description="MLflow run metrics, test_mase included.")
    data_source: str | None
    synthetic: bool
    ranges: dict[str, str] = Field(description="split -> first..last target date.")
    trained_at: dt.datetime | None
    trained_on: TrainedOn | None = Field(
        None, description="Source kind, tickers and dates of training; None for older models."
    )


class SampleData(BaseModel):
    ticker: str
    dates: list[dt.date]
    last_prices: list[float]
    last_opens: list[float] | None = Field(None, description="When every day carried a bar.")
    last_highs: list[float] | None = None
    last_lows: list[float] | None = None


class ScoreSummary(BaseModel):
    """How a ticker's forecasts have done lately, from the forecast-scores topic."""

    ticker: str
    model_name: str
    model_version: str
    as_of: dt.date = Field(description="Target date of the newest scored forecast.")
    rolling: dict[str, RollingScores] = Field(
        description='Over the last "20" and "60" scored sessions of this model version.'
    )
    recent: list[ForecastScore] = Field(description="The newest scores, oldest first.")


class ServiceStatus(BaseModel):
    name: str = "tickcast"
    version: str
    status: Literal["ok", "degraded"]
    model_version: str | None = None
