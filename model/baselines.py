"""The three reference interval forecasters a learned model must beat on the same targets.

As fixed by the issue: a Gaussian RiskMetrics EWMA (lambda 0.94), the empirical quantiles
of the last 250 sessions, and a GARCH(1,1) with Student-t errors from `arch` fitted once on
the training split. Each forecasts quantiles of the next log return r_j from returns[:j]
only, so they are honest one-step-ahead references, never refitted on evaluation data.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal, stats

from core.errors import InputError
from model.intervals import LEVELS

BASELINES = ("ewma", "empirical", "garch")

EWMA_LAMBDA = 0.94
EMPIRICAL_WINDOW = 250
EMPIRICAL_MIN = 20
GARCH_MIN_RETURNS = 250


@dataclass(frozen=True)
class BaselineForecast:
    """One baseline's forecasts for m targets."""

    quantiles: np.ndarray  # (m, L) log-return quantiles
    point: np.ndarray  # (m,) point log return


def _check(returns: np.ndarray, fit_end: int, targets: np.ndarray) -> None:
    """Refuse inputs that would silently give look-ahead or meaningless forecasts."""
    if returns.ndim != 1 or not np.all(np.isfinite(returns)):
        raise InputError("returns must be a 1-D series of finite log returns")
    if not 2 <= fit_end <= returns.size:
        raise InputError(f"fit_end must be in [2, {returns.size}], got {fit_end}")
    if targets.ndim != 1 or targets.size == 0:
        raise InputError("targets must be a non-empty 1-D array of return indices")
    if targets[0] < fit_end or targets[-1] >= returns.size or np.any(np.diff(targets) <= 0):
        raise InputError(
            f"targets must be strictly increasing indices in [{fit_end}, {returns.size})"
        )


def _ewma(
    returns: np.ndarray, fit_end: int, targets: np.ndarray, z: np.ndarray
) -> BaselineForecast:
    """RiskMetrics variance, started at index 0 from the training split's sample variance.

    Starting at the first return (rather than at fit_end) lets the recursion warm up over the
    whole training split: by the first target the start value has decayed by 0.94**fit_end.
    sigma2[t] forecasts r_t and uses r_0..r_{t-1} only.
    """
    start = float(np.var(returns[:fit_end], ddof=1))
    # lfilter: out[t] = 0.06 * r_t^2 + 0.94 * out[t-1], with out[-1] = start -> sigma2[t + 1].
    after, _ = signal.lfilter(
        [1.0 - EWMA_LAMBDA], [1.0, -EWMA_LAMBDA], returns[:-1] ** 2, zi=[EWMA_LAMBDA * start]
    )
    sigma = np.sqrt(np.concatenate(([start], after)))[targets]
    return BaselineForecast(quantiles=sigma[:, None] * z[None, :], point=np.zeros(targets.size))


def _empirical(returns: np.ndarray, targets: np.ndarray, taus: np.ndarray) -> BaselineForecast:
    """Quantiles and median of the last 250 returns (all of returns[:j] early on)."""
    if targets[0] < EMPIRICAL_MIN:
        raise InputError(
            f"the empirical baseline needs at least {EMPIRICAL_MIN} past returns per target"
        )
    quantiles = np.empty((targets.size, len(taus)))
    point = np.empty(targets.size)
    # Full windows in one call per figure (row by row, the same arithmetic as one at a time);
    # the shorter early ones alone.
    full = targets >= EMPIRICAL_WINDOW
    if full.any():
        rows = np.lib.stride_tricks.sliding_window_view(returns, EMPIRICAL_WINDOW)
        windows = rows[targets[full] - EMPIRICAL_WINDOW]
        quantiles[full] = np.quantile(windows, taus, axis=1).T
        point[full] = np.median(windows, axis=1)
    for i in np.flatnonzero(~full):
        window = returns[: targets[i]]
        quantiles[i] = np.quantile(window, taus)
        point[i] = np.median(window)
    return BaselineForecast(quantiles=quantiles, point=point)


def _arch_model() -> Callable[..., Any]:
    """`arch.arch_model`, imported without matplotlib when nothing has loaded it yet: arch
    imports it (0.3 s) only for the plot methods tickcast never calls, and a backtest or
    evaluate that draws nothing would otherwise pay for it."""
    if "arch" not in sys.modules and "matplotlib" not in sys.modules:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]  # arch: ImportError
        try:
            import arch  # noqa: F401
        finally:
            del sys.modules["matplotlib"]
    from arch import arch_model

    return arch_model


def _garch(
    returns: np.ndarray, fit_end: int, targets: np.ndarray, taus: np.ndarray
) -> BaselineForecast:
    """GARCH(1,1)-t fitted once on the training split, then filtered with fixed parameters.

    Works in percent returns (arch's preferred scale). The variance recursion is run here
    rather than through arch on the full series, because arch derives its variance bounds
    from the whole sample; this one is causal by construction and starts like arch does,
    sigma2_0 = omega + (alpha + beta) * backcast, with the backcast from the training split.
    """
    if fit_end < GARCH_MIN_RETURNS:
        raise InputError(
            f"too little training data for GARCH: need at least {GARCH_MIN_RETURNS} returns, "
            f"got {fit_end}"
        )
    scaled = 100.0 * returns
    model = _arch_model()(scaled[:fit_end], mean="Constant", vol="GARCH", p=1, q=1, dist="t")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = model.fit(disp="off")
    except (ValueError, RuntimeError, np.linalg.LinAlgError, FloatingPointError) as exc:
        raise InputError(f"the GARCH fit failed on the training split: {exc}") from exc
    params = fit.params
    mu, omega = float(params["mu"]), float(params["omega"])
    alpha, beta, nu = float(params["alpha[1]"]), float(params["beta[1]"]), float(params["nu"])
    if fit.convergence_flag != 0 or not np.isfinite([mu, omega, alpha, beta, nu]).all():
        raise InputError(
            "the GARCH fit did not converge on the training split: it needs at least "
            f"~{GARCH_MIN_RETURNS} well-behaved returns"
        )
    if nu <= 2.0:
        raise InputError(
            f"the GARCH fit gave Student-t nu = {nu:.3f} <= 2 (infinite variance): too little "
            f"or too wild training data, need at least ~{GARCH_MIN_RETURNS} returns"
        )
    resid = scaled - mu
    start = omega + (alpha + beta) * float(model.volatility.backcast(resid[:fit_end]))
    # lfilter: out[t] = omega + alpha * e_t^2 + beta * out[t-1], out[-1] = start -> sigma2[t + 1].
    after, _ = signal.lfilter(
        [1.0], [1.0, -beta], omega + alpha * resid[:-1] ** 2, zi=[beta * start]
    )
    sigma = np.sqrt(np.concatenate(([start], after)))[targets]
    z = stats.t.ppf(taus, nu) * np.sqrt((nu - 2.0) / nu)
    quantiles = (mu + sigma[:, None] * z[None, :]) / 100.0
    return BaselineForecast(quantiles=quantiles, point=np.full(targets.size, mu / 100.0))


def baseline_forecasts(
    returns: np.ndarray,
    fit_end: int,
    targets: np.ndarray,
    levels: Sequence[float] = LEVELS,
    names: Sequence[str] = BASELINES,
) -> dict[str, BaselineForecast]:
    """The baselines' forecasts of returns[j] for each target j, from returns[:j] only.

    returns[:fit_end] is the training split: the only data used to fit or initialise.
    `names` picks which of the three to compute.
    """
    returns = np.asarray(returns, dtype=np.float64)
    targets = np.asarray(targets)
    if targets.size and not np.issubdtype(targets.dtype, np.integer):
        raise InputError("targets must be integer indices into returns")
    targets = targets.astype(np.int64)
    _check(returns, int(fit_end), targets)
    taus = np.asarray(levels, dtype=np.float64)
    build = {
        "ewma": lambda: _ewma(returns, int(fit_end), targets, stats.norm.ppf(taus)),
        "empirical": lambda: _empirical(returns, targets, taus),
        "garch": lambda: _garch(returns, int(fit_end), targets, taus),
    }
    return {name: build[name]() for name in names}
