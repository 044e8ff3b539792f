"""Score backtest forecasts against what happened: metrics, Diebold-Mariano, drift periods."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.errors import InputError


@dataclass(frozen=True)
class DieboldMariano:
    statistic: float
    pvalue: float
    n: int


def diebold_mariano(errors_a: np.ndarray, errors_b: np.ndarray, power: int = 2) -> DieboldMariano:
    """Test equal accuracy of two one-step forecasts from their errors on the same targets.

    Loss is |e|**power; d = loss_a - loss_b. For one-step forecasts the long-run variance is
    the sample variance of d (no autocovariance terms). The statistic gets the Harvey-
    Leybourne-Newbold small-sample correction and a Student t(n-1) two-sided p-value.
    A negative statistic means `a` has the smaller loss.
    """
    a, b = np.asarray(errors_a, dtype=np.float64), np.asarray(errors_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 3:
        raise InputError(f"the Diebold-Mariano test needs at least 3 paired errors; got {a.size}")
    d = np.abs(a) ** power - np.abs(b) ** power
    n = d.size
    variance = float(np.mean((d - d.mean()) ** 2))  # gamma_0, divided by n
    if variance == 0.0:
        return DieboldMariano(0.0, 1.0, n)
    dm = float(d.mean()) / math.sqrt(variance / n)
    h = 1
    correction = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    statistic = dm * correction
    return DieboldMariano(statistic, float(2 * stats.t.sf(abs(statistic), df=n - 1)), n)


def drift_mask(as_of: np.ndarray, alerts: list[tuple[str, str]]) -> np.ndarray:
    """True for days inside a drifted period: from an `entered` alert to the next `recovered`."""
    events = sorted(alerts)
    mask = np.zeros(len(as_of), dtype=bool)
    start = None
    for day, state in events:
        if state == "entered" and start is None:
            start = day
        elif state == "recovered" and start is not None:
            mask |= (as_of >= start) & (as_of < day)
            start = None
    if start is not None:
        mask |= as_of >= start
    return mask
