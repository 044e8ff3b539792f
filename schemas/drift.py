"""Drift assessment of one window, as carried by forecasts, alerts and API replies."""

from __future__ import annotations

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class DriftStatistic(BaseModel):
    """One statistic, its threshold and its verdict."""

    name: str
    value: float
    threshold: str = Field(description="Human-readable rule, e.g. 'p < 0.05'.")
    drift: bool
    detail: str = ""


class DriftReport(BaseModel):
    """All statistics for a window, the overall flag, and informational notes."""

    schema_version: int = SCHEMA_VERSION
    drift: bool
    baseline: str = Field(description="Which baseline was used: a ticker or 'overall'.")
    statistics: list[DriftStatistic]
    notes: list[str] = Field(default_factory=list, description="Informational, never drift.")
