"""Prometheus metrics of the worker."""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING, Literal

from prometheus_client import Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from model.forecaster import Forecaster
    from streams.pipeline import BatchResult

logger = logging.getLogger(__name__)

MESSAGES_IN = Counter("tickcast_messages_in_total", "Price messages read from the prices topic.")
FORECASTS_OUT = Counter("tickcast_forecasts_out_total", "Forecasts sent to the forecasts topic.")
SKIPPED = Counter(
    "tickcast_skipped_total",
    "Closes that change nothing, skipped: redelivered (at or behind the ticker's last applied "
    "offset), duplicate (a close the window holds) or stale (older than the full window).",
    ["reason"],
)
MODEL_EVENTS_FAILED = Counter(
    "tickcast_model_events_failed_total",
    "Model events whose version could not be loaded; the current model kept forecasting.",
)
DLQ = Counter("tickcast_dlq_total", "Messages sent to the dead-letter topic.")
DRIFT_ALERTS = Counter(
    "tickcast_drift_alerts_total",
    "Alerts sent on drift-alerts: kind data or performance (reason skill or coverage).",
    ["kind", "reason", "state"],
)
SCORES_OUT = Counter("tickcast_scores_out_total", "Forecasts scored against their close.")
EXPIRED = Counter(
    "tickcast_forecasts_expired_total", "Forecasts whose target date passed unscored."
)
ROLLING_MASE = Gauge(
    "tickcast_rolling_mase", "MASE over the last scored sessions.", ["ticker", "sessions"]
)
ROLLING_COVERAGE = Gauge(
    "tickcast_rolling_coverage",
    "Share of the last scored closes inside the interval.",
    ["ticker", "sessions", "interval"],
)
ROLLING_PINBALL = Gauge(
    "tickcast_rolling_pinball",
    "Mean pinball loss (log returns) over the last scored sessions.",
    ["ticker", "sessions"],
)
BATCH_LATENCY = Histogram(
    "tickcast_inference_seconds",
    "Time to compute one micro-batch: decode, window, infer, drift, score.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BATCH_SIZE = Histogram(
    "tickcast_batch_size",
    "Messages per micro-batch.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)
MODEL_VERSION = Gauge("tickcast_model_version", "Version of the model in use.", ["model"])
SWAPS_REFUSED = Counter(
    "tickcast_model_swaps_refused_total",
    "Announced models not served because they need more closes than the table keeps.",
)


def record_batch(result: BatchResult, size: int, seconds: float) -> None:
    MESSAGES_IN.inc(size)
    FORECASTS_OUT.inc(len(result.forecasts))
    SKIPPED.labels("redelivered").inc(result.redelivered)
    SKIPPED.labels("duplicate").inc(result.duplicates)
    SKIPPED.labels("stale").inc(result.stale)
    DLQ.inc(len(result.dead_letters))
    SCORES_OUT.inc(len(result.scores))
    EXPIRED.inc(result.expired)
    for alert in result.alerts:
        DRIFT_ALERTS.labels(alert.kind, alert.reason or "", alert.state).inc()
    latest = {score.ticker: score for score in result.scores}  # gauges keep the last value
    for score in latest.values():
        for sessions, figures in score.rolling.items():
            if figures.mase is not None:
                ROLLING_MASE.labels(score.ticker, sessions).set(figures.mase)
            ROLLING_COVERAGE.labels(score.ticker, sessions, "80").set(figures.coverage_80)
            ROLLING_COVERAGE.labels(score.ticker, sessions, "95").set(figures.coverage_95)
            ROLLING_PINBALL.labels(score.ticker, sessions).set(figures.pinball)
    BATCH_LATENCY.observe(seconds)
    BATCH_SIZE.observe(size)


def model_version(forecaster: Forecaster) -> None:
    version = float(forecaster.version) if forecaster.version.isdigit() else 0.0
    MODEL_VERSION.labels(forecaster.name).set(version)


def serve(port: int | Literal["auto"], host: str = "127.0.0.1") -> int | None:
    """Expose /metrics on `host`:`port` and return the port bound; None when off or taken.

    Several workers may share a host, and only one of them gets a fixed port: the others say
    so in one warning and run without the endpoint rather than crash. `auto` binds a free port
    and says which at warning level, since a scraper has no other way to learn it.
    """
    if port == 0:
        return None
    try:
        server, _thread = start_http_server(0 if port == "auto" else port, addr=host)
    except OSError as exc:
        why = "in use, by another worker?" if exc.errno == errno.EADDRINUSE else exc.strerror
        logger.warning(
            "metrics port %s on %s is not available (%s): running without /metrics. Set "
            "TICKCAST_KAFKA__METRICS_PORT to a free port, to auto for any free one, or to 0 to "
            "turn metrics off",
            port,
            host,
            why,
        )
        return None
    bound = int(server.server_port)
    if port == "auto":
        logger.warning(
            "Prometheus metrics on http://%s:%d/metrics (TICKCAST_KAFKA__METRICS_PORT=auto)",
            host,
            bound,
        )
    else:
        logger.info("Prometheus metrics on http://%s:%d/metrics", host, bound)
    return bound
