"""Contracts shared by every package: versioned pydantic models, no logic, no I/O."""

from schemas.drift import DriftReport, DriftStatistic
from schemas.metrics import EvaluationReport, MetricSet, TrainResult
from schemas.prices import PRICE_COLUMNS, LoadReport

__all__ = [
    "PRICE_COLUMNS",
    "DriftReport",
    "DriftStatistic",
    "EvaluationReport",
    "LoadReport",
    "MetricSet",
    "TrainResult",
]
