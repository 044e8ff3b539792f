"""Accuracy figures and the results of training and evaluation runs."""

from __future__ import annotations

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class MetricSet(BaseModel):
    """Model against naive persistence ('tomorrow = today') on exactly the same targets."""

    n: int
    mae: float
    rmse: float
    mape: float = Field(description="Percent.")
    naive_mae: float
    naive_rmse: float
    naive_mape: float = Field(description="Percent.")
    mase: float = Field(description="Model MAE / naive MAE; below 1 beats naive.")
    direction_accuracy: float = Field(description="Share of non-flat days whose sign was right.")


class TrainResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    model_name: str
    model_version: str
    promoted: bool
    promotion_reason: str
    epochs: int
    best_val_loss: float
    train_seconds: float
    source: str
    synthetic: bool
    ranges: dict[str, dict[str, str]] = Field(description="ticker -> split -> 'first..last'.")
    test: dict[str, MetricSet] = Field(description="ticker (and 'overall') -> test metrics.")
    validation: dict[str, MetricSet]


class EvaluationReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    model_name: str
    model_version: str
    source: str
    synthetic: bool
    start: str
    end: str
    metrics: dict[str, MetricSet] = Field(description="ticker (and 'overall') -> metrics.")
