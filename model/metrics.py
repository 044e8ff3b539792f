"""Forecast accuracy against naive persistence ('tomorrow = today') on the same targets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from core.errors import InputError
from schemas.metrics import MetricSet


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(predicted))))


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2)))


def mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error, in percent. Prices are positive, so no division by 0."""
    actual = np.asarray(actual, dtype=np.float64)
    return float(100.0 * np.mean(np.abs((actual - np.asarray(predicted)) / actual)))


def direction_accuracy(last: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> float:
    """Share of days with a real move whose predicted move has the same sign.

    Flat days (actual == last) have no direction and are left out; a flat forecast on a
    moving day counts as wrong, so naive persistence scores 0 here, not 50%.
    """
    moved = np.sign(np.asarray(actual) - np.asarray(last))
    guessed = np.sign(np.asarray(predicted) - np.asarray(last))
    mask = moved != 0
    if not mask.any():
        return float("nan")
    return float(np.mean(moved[mask] == guessed[mask]))


def score(last: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> MetricSet:
    """All metrics for forecasts `predicted` of `actual`, the naive forecast being `last`."""
    last, actual, predicted = (np.asarray(a, dtype=np.float64) for a in (last, actual, predicted))
    if not (last.shape == actual.shape == predicted.shape) or last.ndim != 1:
        raise ValueError("last, actual and predicted must be 1-D arrays of the same length")
    if last.size == 0:
        raise ValueError("no targets to score")
    naive_mae = mae(actual, last)
    model_mae = mae(actual, predicted)
    return MetricSet(
        n=int(actual.size),
        mae=model_mae,
        rmse=rmse(actual, predicted),
        mape=mape(actual, predicted),
        naive_mae=naive_mae,
        naive_rmse=rmse(actual, last),
        naive_mape=mape(actual, last),
        mase=model_mae / naive_mae if naive_mae > 0 else float("nan"),
        direction_accuracy=direction_accuracy(last, actual, predicted),
    )


@dataclass(frozen=True)
class DieboldMariano:
    statistic: float
    pvalue: float
    n: int


def diebold_mariano(
    errors_a: np.ndarray,
    errors_b: np.ndarray,
    power: int = 2,
    alternative: Literal["two-sided", "greater"] = "two-sided",
) -> DieboldMariano:
    """Test equal accuracy of two one-step forecasts from their errors on the same targets.

    Loss is |e|**power; d = loss_a - loss_b. For one-step forecasts the long-run variance is
    the sample variance of d (no autocovariance terms). The statistic gets the Harvey-
    Leybourne-Newbold small-sample correction and a Student t(n-1) two-sided p-value.
    A negative statistic means `a` has the smaller loss. With `alternative="greater"` the
    p-value is one-sided: small when `a` has the larger loss (a model worse than naive).
    """
    a, b = np.asarray(errors_a, dtype=np.float64), np.asarray(errors_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 3:
        raise InputError(f"the Diebold-Mariano test needs at least 3 paired errors; got {a.size}")
    d = np.abs(a) ** power - np.abs(b) ** power
    n = d.size
    mean = float(d.sum()) / n  # sums, not np.mean: the stream runs this on every scored close
    deviations = d - mean
    variance = float(deviations @ deviations) / n  # gamma_0, divided by n
    if variance == 0.0:
        return DieboldMariano(0.0, 1.0, n)
    dm = mean / math.sqrt(variance / n)
    h = 1
    correction = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    statistic = dm * correction
    # special.stdtr is Student t's CDF without scipy.stats' machinery: the stream tests every
    # scored close, and this is the same number at a fraction of the cost.
    if alternative == "greater":
        return DieboldMariano(statistic, float(special.stdtr(n - 1, -statistic)), n)
    return DieboldMariano(statistic, float(2 * special.stdtr(n - 1, -abs(statistic))), n)
