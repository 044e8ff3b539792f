"""Scores and calibration helpers for quantile forecasts of the next log return.

Pure numpy/scipy so the worker, the backtest and the baselines share one definition of
coverage, width, Winkler and pinball, and one conformal / adaptive calibration rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy.special import _ufuncs

from core.errors import InputError

LEVELS: tuple[float, ...] = (0.025, 0.1, 0.5, 0.9, 0.975)
INTERVALS: dict[str, tuple[float, float]] = {"80": (0.1, 0.9), "95": (0.025, 0.975)}


def level_key(level: float) -> str:
    """JSON key of a level ('0.1', '0.975'); rounding first so that 1 - 0.9 is also '0.1'."""
    return repr(round(float(level), 10))


def coverage_of(level: float) -> float:
    """Coverage of the central interval a quantile level bounds: 0.8 for 0.1 and for 0.9."""
    return round(abs(2.0 * float(level) - 1.0), 10)


def central_coverages(levels: Sequence[float]) -> tuple[float, ...]:
    """The distinct central intervals that `levels` bound, narrowest first; 0.5 bounds none."""
    return tuple(sorted({coverage_of(level) for level in levels} - {0.0}))


def pinball(y: np.ndarray, q: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Per-row mean over levels of the pinball loss; y (n,), q (n, L) -> (n,)."""
    taus = np.asarray(levels, dtype=np.float64)
    diff = np.asarray(y, dtype=np.float64)[:, None] - np.asarray(q, dtype=np.float64)
    loss = np.maximum(taus * diff, (taus - 1.0) * diff)
    return loss.sum(axis=1) / taus.size


def pinball_one(y: float, q: Sequence[float], levels: Sequence[float]) -> float:
    """`pinball` for one value, in plain floats: the same number, added up in the same order.

    The stream scores one close at a time, where numpy's per-call cost was most of the work.
    """
    loss = 0.0
    for tau, quantile in zip(levels, q, strict=True):
        diff = y - quantile
        loss += max(tau * diff, (tau - 1.0) * diff)
    return loss / len(levels)


def covered(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """True where the realised value lies inside the closed interval [lower, upper]."""
    y = np.asarray(y)
    return (np.asarray(lower) <= y) & (y <= np.asarray(upper))


def winkler(y: np.ndarray, lower: np.ndarray, upper: np.ndarray, alpha: float) -> np.ndarray:
    """Winkler score of a (1 - alpha) interval: its width plus 2/alpha times any miss distance.

    It rewards narrow intervals but punishes misses, so it cannot be gamed by width alone.
    """
    y, lower, upper = (np.asarray(a, dtype=np.float64) for a in (y, lower, upper))
    below = np.maximum(lower - y, 0.0)
    above = np.maximum(y - upper, 0.0)
    return (upper - lower) + (2.0 / alpha) * (below + above)


@lru_cache(maxsize=4096)
def binomial_band(n: int, p: float, confidence: float = 0.95) -> tuple[float, float]:
    """Central band of the coverage share a calibrated p-interval shows over n forecasts.

    An observed coverage outside it is evidence of miscalibration, not just bad luck.
    Cached: the stream asks for the same few bands on every scored close.
    """
    if n <= 0:
        return (0.0, 1.0)
    # scipy.stats.binom.interval's own quantile function, without importing scipy.stats: its
    # ~46 MB and 0.6 s stayed in every worker and API for this one call. Equal to it on every
    # case tests/model/test_binomial_band.py tries, which fails if an upgrade changes that.
    tail = (1.0 - confidence) / 2
    low, high = _ufuncs._binom_ppf(tail, n, p), _ufuncs._binom_ppf(1.0 - tail, n, p)
    return (float(low) / n, float(high) / n)


def conformal_quantile(sorted_scores: Sequence[float], level: float) -> float:
    """Split-conformal quantile of sorted calibration scores at `level`.

    Rank rule k/(n+1) with linear interpolation between order statistics: numpy's
    np.quantile(..., method="weibull") to within 1e-12 relative, levels below 1/(n+1) giving the
    smallest score and above n/(n+1) the largest. For tau >= 0.5 on the grid tau = k/(n+1) it
    is the order statistic z_(k), the usual conformal threshold, so the finite-sample coverage
    guarantee holds there. Plain floats, on scores already sorted: every forecast reads two of
    these, where numpy's per-call cost and its partition of the sample were most of the work.
    """
    n = len(sorted_scores)
    if n == 0:
        raise InputError("no calibration scores: conformal calibration needs at least one")
    position = min(max(level * (n + 1) - 1.0, 0.0), n - 1.0)
    below = math.floor(position)
    a, b = sorted_scores[below], sorted_scores[min(below + 1, n - 1)]
    t = position - below
    diff = b - a
    return float(b - diff * (1.0 - t) if t >= 0.5 else a + diff * t)


def aci_step(
    level_eff: Sequence[float],
    levels: Sequence[float],
    hit: Sequence[float],
    gamma: float,
    bounds: tuple[float, float] = (0.0005, 0.9995),
) -> tuple[float, ...]:
    """One adaptive conformal inference update (Gibbs & Candes 2021): level + gamma (target - hit).

    The stream runs it per central interval: level is the effective coverage, target the
    nominal one, hit = 1 where y fell inside. An interval that covers more often than its
    target narrows (and vice versa), so coverage tracks the target under drift. (Per quantile
    level, with hit = 1 where y <= q, it is the same rule.) Clipping keeps a usable
    probability. Plain floats: two numbers per scored close.
    """
    low, high = bounds
    return tuple(
        min(max(float(eff) + gamma * (float(target) - float(h)), low), high)
        for eff, target, h in zip(level_eff, levels, hit, strict=True)
    )


def _level_index(levels: Sequence[float], level: float) -> int:
    """Column of `level` in `levels`, tolerant of float noise."""
    matches = np.flatnonzero(np.isclose(np.asarray(levels, dtype=np.float64), level))
    if matches.size == 0:
        raise InputError(f"quantile level {level} is missing from levels {tuple(levels)}")
    return int(matches[0])


def _interval(
    quantiles: np.ndarray, levels: Sequence[float], name: str
) -> tuple[np.ndarray, np.ndarray, float]:
    """Lower and upper bounds of a named interval, and its alpha (0.2 for '80')."""
    low, high = INTERVALS[name]
    lower = quantiles[:, _level_index(levels, low)]
    upper = quantiles[:, _level_index(levels, high)]
    return lower, upper, round(low + (1.0 - high), 10)


def interval_figures(
    last: np.ndarray,
    actual: np.ndarray,
    point: np.ndarray,
    quantiles: np.ndarray,
    levels: Sequence[float] = LEVELS,
) -> dict[str, float]:
    """Coverage, width, Winkler and pinball of return quantiles, and MASE of the point close.

    Interval figures are in log-return units (the realised y = log(actual/last)); MASE is
    against naive persistence on prices, nan when every actual equals its last close.
    """
    last, actual, point = (np.asarray(a, dtype=np.float64) for a in (last, actual, point))
    quantiles = np.asarray(quantiles, dtype=np.float64)
    n = last.size
    if n == 0:
        raise InputError("no forecasts to score")
    if not (last.shape == actual.shape == point.shape == (n,)):
        raise InputError("last, actual and point must be 1-D arrays of the same length")
    if quantiles.shape != (n, len(levels)):
        raise InputError(f"quantiles must have shape ({n}, {len(levels)}), not {quantiles.shape}")
    y = np.log(actual / last)
    lower80, upper80, alpha80 = _interval(quantiles, levels, "80")
    lower95, upper95, _ = _interval(quantiles, levels, "95")
    naive = float(np.sum(np.abs(actual - last)))
    model = float(np.sum(np.abs(actual - point)))
    return {
        "n": int(n),
        "coverage_80": float(np.mean(covered(y, lower80, upper80))),
        "coverage_95": float(np.mean(covered(y, lower95, upper95))),
        "width_80": float(np.mean(upper80 - lower80)),
        "width_95": float(np.mean(upper95 - lower95)),
        "winkler_80": float(np.mean(winkler(y, lower80, upper80, alpha80))),
        "pinball": float(np.mean(pinball(y, quantiles, levels))),
        "mase": model / naive if naive > 0 else float("nan"),
    }
