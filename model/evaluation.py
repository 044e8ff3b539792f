"""Score a model against naive persistence and the interval baselines on any date range, with
the same windows as training."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from model import tracking_start
from model.baselines import GarchFits
from model.errors import NotEnoughDataError
from model.forecaster import Forecaster, WindowInput
from model.predictor import Predictor
from model.reports import OVERALL, Scored, baselines_for, report_metrics
from model.windows import WindowSet, concat, make_windows
from producers.calendar import next_trading_day, sessions_before
from producers.sources import PriceData
from schemas.messages import TrainedOn
from schemas.metrics import EvaluationReport, MetricSet

__all__ = [
    "OVERALL",
    "TrainingOverlap",
    "evaluate",
    "forecast_windows",
    "history_start",
    "training_overlap",
    "windows_in_range",
]

LOOKBACK_MARGIN = 10  # extra sessions loaded before a range, for gaps in the data


def window_start(first: date, window: int) -> date:
    """Where closes must start so that `first` gets a full window of `window` closes."""
    return sessions_before(first, window + LOOKBACK_MARGIN)


def history_start(first: date, window: int, baseline_history: int) -> date:
    """Where a report's data must start: a full window before `first`, and the sessions the
    interval baselines fit on (`data.baseline_history`)."""
    return min(window_start(first, window), sessions_before(first, baseline_history))


@dataclass(frozen=True)
class TrainingOverlap:
    """Scored days the model trained on: figures there flatter it."""

    tickers: list[str]
    first: date
    last: date
    unseen_from: date  # the first session after training: where unseen days begin


def training_overlap(
    trained_on: TrainedOn | None, tickers: Iterable[str], first: date, last: date
) -> TrainingOverlap | None:
    """The part of the scored days [first, last] that were training targets of the tickers
    the model trained on; None when there is none, or the model does not say what it saw."""
    if trained_on is None or trained_on.start is None or trained_on.end is None:
        return None
    shared = [t for t in tickers if t in trained_on.tickers]
    start, end = max(first, trained_on.start), min(last, trained_on.end)
    if not shared or start > end:
        return None
    return TrainingOverlap(shared, start, end, next_trading_day(trained_on.end))


def forecast_windows(forecaster: Forecaster, windows: WindowSet) -> Scored:
    """Every window through the one forecast path, with its actual next close."""
    inputs = [
        WindowInput(closes, str(ticker), None, bars)
        for closes, ticker, bars in zip(windows.closes, windows.ticker, windows.bars, strict=True)
    ]
    predictions = forecaster.forecast(inputs)
    return Scored(
        ticker=windows.ticker,
        target_date=windows.target_date,
        last=windows.last,
        actual=windows.target,
        point=np.array([p.predicted_close for p in predictions]),
        location=np.array([p.location for p in predictions]),
        quantiles=np.array([list(p.return_quantiles.values()) for p in predictions]),
    )


def windows_in_range(
    data: PriceData, window: int, start: date | None, end: date | None
) -> WindowSet:
    """Windows whose target date lies in [start, end]; earlier closes fill the first windows."""
    sets = [make_windows(frame, ticker, window) for ticker, frame in data.frames.items()]
    windows = concat(sets)
    mask = np.ones(len(windows), dtype=bool)
    if start:
        mask &= windows.target_date >= np.datetime64(start, "D")
    if end:
        mask &= windows.target_date <= np.datetime64(end, "D")
    return windows.take(mask)


def last_fit_day(first_target: date) -> date:
    """The last day a ticker's baselines may fit on: the day before its first scored target."""
    return first_target - timedelta(days=1)


def history_until(scored: Scored) -> dict[str, date]:
    """Per ticker, `last_fit_day` of its first scored target."""
    return {
        ticker: last_fit_day(scored.target_date[rows].min().astype(date))
        for ticker, rows in scored.groups().items()
    }


def evaluate(
    predictor: Predictor,
    data: PriceData,
    start: date | None,
    end: date | None,
    plots: Path | None = None,
    fits: GarchFits | None = None,
) -> EvaluationReport:
    """The model beside naive and the baselines on [start, end]; with `plots`, a fan chart and
    a reliability diagram per ticker are written there. `fits`: where GARCH fits are kept
    (a second evaluation of the same prices fits none)."""
    tracking_start.imports_done()  # the collector, paused for the CLI's imports
    windows = windows_in_range(data, predictor.window, start, end)
    if not len(windows):
        raise NotEnoughDataError(
            f"no forecastable days between {start or 'the start'} and {end or 'the end'}: "
            f"each needs {predictor.window} earlier closes"
        )
    scored = forecast_windows(predictor.forecaster, windows)
    baselines = baselines_for(scored, data.frames, history_until(scored), fits)
    shrink = predictor.bundle.calibration.shrink if predictor.bundle.calibration else None
    metrics: dict[str, MetricSet] = report_metrics(scored, baselines, shrink)
    if plots is not None:
        from model.plots import report_plots  # matplotlib: only when plots are written

        report_plots(scored, plots, f"{start or 'start'}..{end or 'end'}, split conformal")
    return EvaluationReport(
        model_name=predictor.name,
        model_version=predictor.version,
        source=data.source,
        synthetic=data.synthetic,
        start=str(windows.target_date.min()),
        end=str(windows.target_date.max()),
        interval_method="split-conformal",
        trained_on=predictor.trained_on,
        metrics=metrics,
    )
