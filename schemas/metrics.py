"""Accuracy figures and the results of training and evaluation runs."""

from __future__ import annotations

from pydantic import BaseModel, Field

from schemas.messages import TrainedOn

SCHEMA_VERSION = 1


class IntervalScores(BaseModel):
    """Interval and point figures of one forecaster on a set of days (log-return units)."""

    n: int = Field(description="Sessions scored.")
    coverage_80: float = Field(description="Share of actual returns inside the 80% interval.")
    coverage_95: float
    width_80: float = Field(description="Mean width of the 80% interval, in log return.")
    width_95: float
    winkler_80: float = Field(description="Mean Winkler score of the 80% interval.")
    pinball: float = Field(description="Mean pinball loss over the five levels.")
    mase: float = Field(description="MAE of its point forecast / naive MAE.")


class MetricSet(BaseModel):
    """Model against naive persistence ('tomorrow = today') on exactly the same targets, and
    its intervals beside the three baselines on the same days."""

    n: int
    mae: float
    rmse: float
    mape: float = Field(description="Percent.")
    naive_mae: float
    naive_rmse: float
    naive_mape: float = Field(description="Percent.")
    mase: float = Field(description="Model MAE / naive MAE; below 1 beats naive.")
    direction_accuracy: float = Field(description="Share of non-flat days whose sign was right.")
    coverage_80: float | None = None
    coverage_95: float | None = None
    width_80: float | None = None
    width_95: float | None = None
    winkler_80: float | None = None
    pinball: float | None = Field(None, description="Mean pinball loss, five levels, log returns.")
    mase_unshrunk: float | None = Field(
        None, description="MASE of the network's own location, before shrinking toward naive."
    )
    shrink: float | None = Field(
        None, description="Weight of the network's location in the shipped point (0: naive)."
    )
    baselines: dict[str, IntervalScores] = Field(
        default_factory=dict, description="ewma, empirical and garch on the same days."
    )


class TrainResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    model_name: str
    model_version: str
    promoted: bool = Field(description="Whether it became the champion.")
    alias: str | None = Field(None, description="The alias it took (champion, synthetic), if any.")
    promotion_reason: str = Field(description="The figures compared, the rule and the decision.")
    trained_on: TrainedOn | None = None
    epochs: int
    best_val_loss: float
    train_seconds: float
    source: str
    synthetic: bool
    ranges: dict[str, dict[str, str]] = Field(description="ticker -> split -> 'first..last'.")
    metrics: dict[str, MetricSet] = Field(description="ticker (and 'overall') -> test metrics.")
    validation: dict[str, MetricSet]


class EvaluationReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    model_name: str
    model_version: str
    source: str
    synthetic: bool
    start: str
    end: str
    interval_method: str = Field(description="How the scored intervals were calibrated.")
    trained_on: TrainedOn | None = Field(None, description="What the scored model saw.")
    metrics: dict[str, MetricSet] = Field(description="ticker (and 'overall') -> metrics.")
