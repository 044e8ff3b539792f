"""Prometheus metrics of the API, in its own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "tickcast_api_requests_total",
    "HTTP requests.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "tickcast_api_request_seconds",
    "HTTP request latency.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
PREDICTIONS = Counter("tickcast_api_predictions_total", "Windows forecast.", registry=REGISTRY)
DRIFT_WARNINGS = Counter(
    "tickcast_api_drift_warnings_total", "Predictions with drift.", registry=REGISTRY
)
MODEL_VERSION = Gauge(
    "tickcast_api_model_version", "Model version served.", ["model"], registry=REGISTRY
)
MODEL_EVENTS_FAILED = Counter(
    "tickcast_api_model_events_failed_total",
    "Model events whose version could not be loaded; the model served so far kept serving.",
    registry=REGISTRY,
)
DUPLICATES = Counter(
    "tickcast_api_duplicates_total",
    "Messages dropped by the API's feed because their id was seen before (redelivery).",
    ["topic"],
    registry=REGISTRY,
)
PREDICT_PASS = Histogram(
    "tickcast_api_predict_pass_windows",
    "Windows per forward pass of POST /predict: requests read in one turn of the event loop "
    "share a pass.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024),
    registry=REGISTRY,
)
