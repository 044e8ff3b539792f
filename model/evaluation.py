"""Score a model against naive persistence on any date range, with the same windows as training."""

from __future__ import annotations

from datetime import date

import numpy as np

from model.errors import NotEnoughDataError
from model.metrics import score
from model.predictor import Predictor
from model.windows import WindowSet, concat, make_windows
from producers.sources import PriceData
from schemas.metrics import EvaluationReport, MetricSet

OVERALL = "overall"


def score_by_ticker(windows: WindowSet, predicted: np.ndarray) -> dict[str, MetricSet]:
    """Metrics per ticker, then pooled over all windows as 'overall'."""
    result = {}
    for ticker in dict.fromkeys(windows.ticker.tolist()):
        mask = windows.ticker == ticker
        result[ticker] = score(windows.last[mask], windows.target[mask], predicted[mask])
    result[OVERALL] = score(windows.last, windows.target, predicted)
    return result


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


def evaluate(
    predictor: Predictor, data: PriceData, start: date | None, end: date | None
) -> EvaluationReport:
    windows = windows_in_range(data, predictor.window, start, end)
    if not len(windows):
        raise NotEnoughDataError(
            f"no forecastable days between {start or 'the start'} and {end or 'the end'}: "
            f"each needs {predictor.window} earlier closes"
        )
    predicted = predictor.predict(windows.closes)
    return EvaluationReport(
        model_name=predictor.name,
        model_version=predictor.version,
        source=data.source,
        synthetic=data.synthetic,
        start=str(windows.target_date.min()),
        end=str(windows.target_date.max()),
        metrics=score_by_ticker(windows, predicted),
    )
