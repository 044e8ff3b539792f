"""The three reference interval forecasters a learned model must beat on the same targets.

As fixed by the issue: a Gaussian RiskMetrics EWMA (lambda 0.94), the empirical quantiles
of the last 250 sessions, and a GARCH(1,1) with Student-t errors from `arch` fitted once on
the training split. Each forecasts quantiles of the next log return r_j from returns[:j]
only, so they are honest one-step-ahead references, never refitted on evaluation data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from core.errors import InputError
from core.files import write_atomically
from model.intervals import LEVELS

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

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


@dataclass(frozen=True)
class GarchFit:
    """What the GARCH baseline keeps of a fit: its parameters (percent returns) and the
    variance backcast of the training split."""

    mu: float
    omega: float
    alpha: float
    beta: float
    nu: float
    backcast: float


#: The folder of GARCH fits in the data dir's cache (`DataSettings.cache_dir`), shared by
#: `backtest` and `evaluate`.
GARCH_FITS = "garch-fits"


@lru_cache(maxsize=1)
def _fit_versions() -> str:
    """What else decides a fit: arch's and SciPy's versions, and what a file holds."""
    packages = "".join(f"|{name}={metadata.version(name)}" for name in ("arch", "scipy"))
    return f"{packages}|format={GarchFits.FORMAT}"


class GarchFits:
    """GARCH fits on disk, one small JSON file per training split: a backtest or evaluation
    run again on the same prices skips arch (its import and SciPy's take about a second)
    and the fit (tens of ms per ticker).

    A fit is found by the SHA-256 of the training returns' bytes and of arch's and SciPy's
    versions (`key`): other prices, another split or another arch or SciPy fit anew. Floats are
    written as JSON, which reads them back to the bit, so a report is the same either way.
    An unreadable file is fitted anew and rewritten; a folder that cannot be written only
    loses the cache.
    """

    FORMAT = 2  # bump when what is stored, or how it is fitted, changes (2: exact Jacobians)

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(scaled_training: np.ndarray) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(scaled_training, dtype="<f8").tobytes())
        digest.update(_fit_versions().encode())
        return digest.hexdigest()

    def get(self, key: str) -> GarchFit | None:
        try:
            return GarchFit(**json.loads((self.folder / f"{key}.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def put(self, key: str, fit: GarchFit) -> None:
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs a fit
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(self.folder / f"{key}.json", json.dumps(asdict(fit)))


#: Below this many fits per process, starting processes (each imports arch, about a second)
#: costs more than it saves.
MIN_FITS_PER_PROCESS = 16


def _fit_or_none(training: np.ndarray) -> GarchFit | None:
    """A process's fit; None when it fails (the report's own fit then says why)."""
    try:
        return _fit_garch(training)
    except InputError:
        return None


def garch_training(returns: np.ndarray, fit_end: int) -> np.ndarray:
    """What a GARCH fit reads, and what keys it on disk: the training split, returns[:fit_end],
    in percent (arch's preferred scale)."""
    return (100.0 * np.asarray(returns, dtype=np.float64))[: max(fit_end, 0)]


def prefit_garch(splits: Sequence[tuple[np.ndarray, int]], fits: GarchFits, processes: int) -> int:
    """Fit, across `processes` processes, the training splits (returns, fit_end: as
    `baseline_forecasts` takes them) whose fits `fits` lacks, and keep them there: the
    report then reads every fit from disk. Fits are deterministic, so they are the same bits
    as in the report's own process. Returns how many were fitted; with too few to share out,
    none (the report fits them itself)."""
    with garch_prefit(splits, fits, processes) as fitted:
        pass
    return fitted.count


@dataclass
class Prefitted:
    """How many fits a `garch_prefit` kept; known once its block has ended."""

    count: int = 0


@contextlib.contextmanager
def garch_prefit(
    splits: Sequence[tuple[np.ndarray, int]], fits: GarchFits, processes: int
) -> Iterator[Prefitted]:
    """`prefit_garch`, fitting in other processes while the block runs; the fits are kept
    when it ends. A backtest replays meanwhile: on two cores, the fits that followed the
    replay now run beside it. A block that raises cancels the fits not started."""
    todo: dict[str, np.ndarray] = {}
    for training in (garch_training(returns, fit_end) for returns, fit_end in splits):
        if training.size >= GARCH_MIN_RETURNS:
            key = GarchFits.key(training)
            if key not in todo and fits.get(key) is None:
                todo[key] = training
    fitted = Prefitted()
    workers = min(processes, len(todo) // MIN_FITS_PER_PROCESS)
    if workers < 2:
        yield fitted
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: its workers import arch and run every fit's code, with the backtest's threads
    # (progress bar) alive at the fork; the replay's forked children (backtest/engines.py)
    # run only the loaded pipeline and their pipe.
    context = multiprocessing.get_context("spawn")
    chunk = max(1, len(todo) // (workers * 4))
    pool = ProcessPoolExecutor(workers, mp_context=context)
    try:
        done = pool.map(_fit_or_none, todo.values(), chunksize=chunk)
        yield fitted
        for key, fit in zip(todo, done, strict=True):
            if fit is not None:
                fits.put(key, fit)
                fitted.count += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _recursion(inputs: np.ndarray, weight: float, decay: float, start: float) -> np.ndarray:
    """out[0] = start, out[t + 1] = weight * inputs[t] + decay * out[t]: the first-order
    filter `scipy.signal.lfilter([weight], [1, -decay], inputs, zi=[decay * start])` computes,
    with the same operations in the same order (the same bits), without importing
    scipy.signal (half a second). A few hundred microseconds per ticker."""
    out = [start]
    previous = start
    for value in inputs.tolist():
        previous = decay * previous + weight * value
        out.append(previous)
    return np.asarray(out)


def t_quantiles(taus: np.ndarray, nu: float) -> np.ndarray:
    """`scipy.stats.t.ppf(taus, nu)`, which computes exactly this, without importing
    scipy.stats."""
    return special.stdtrit(nu, taus)


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
    sigma2 = _recursion(returns[:-1] ** 2, 1.0 - EWMA_LAMBDA, EWMA_LAMBDA, start)
    sigma = np.sqrt(sigma2)[targets]
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
        # Sorted once: quantile's and median's partitions of sorted rows are quick, and they
        # pick the same values (half the time of partitioning each row twice).
        windows = np.sort(rows[targets[full] - EMPIRICAL_WINDOW], axis=1)
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
    evaluate that draws nothing would otherwise pay for it. Its fits get their constraints'
    Jacobians (`linear_constraints`)."""
    if "arch" not in sys.modules and "matplotlib" not in sys.modules:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]  # arch: ImportError
        try:
            import arch  # noqa: F401
        finally:
            del sys.modules["matplotlib"]
    from arch import arch_model
    from arch.univariate import base

    base.constraint = linear_constraints  # what arch's fit calls, by its module's name
    return arch_model


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """The BLAS libraries loaded (numpy's and SciPy's), found once, after arch's imports.

    SLSQP's linear algebra runs on them, and their sums depend on how many threads they
    use: a fit runs on one, so it is the same bits in every process (a backtest, its
    fitting children, a test worker that set OPENBLAS_NUM_THREADS after loading numpy).
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def linear_constraints(a: np.ndarray, b: np.ndarray) -> list[dict[str, Any]]:
    """arch's inequality constraints, a @ params - b >= 0 row by row, each with its Jacobian.

    arch gives SLSQP the functions alone, so SciPy approximated the gradient of every
    constraint by finite differences on every iteration: about half of a GARCH fit, for
    gradients that are the constant rows of `a`. The same constraints, so the same maximum
    likelihood, to SLSQP's tolerance.
    """
    return [
        {"type": "ineq", "fun": partial(_affine, row, value), "jac": partial(_gradient, row)}
        for row, value in zip(a, b, strict=True)
    ]


def _affine(row: np.ndarray, value: float, params: np.ndarray, *_args: Any) -> float:
    return float(np.dot(row, params) - value)


def _gradient(row: np.ndarray, _params: np.ndarray, *_args: Any) -> np.ndarray:
    return row


def _fit_garch(training: np.ndarray) -> GarchFit:
    """arch's GARCH(1,1)-t fit of the training split's percent returns, checked."""
    model = _arch_model()(training, mean="Constant", vol="GARCH", p=1, q=1, dist="t")
    try:
        with _blas().limit(limits=1, user_api="blas"), warnings.catch_warnings():
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
    backcast = float(model.volatility.backcast(training - mu))
    return GarchFit(mu, omega, alpha, beta, nu, backcast)


def _garch(
    returns: np.ndarray,
    fit_end: int,
    targets: np.ndarray,
    taus: np.ndarray,
    fits: GarchFits | None = None,
) -> BaselineForecast:
    """GARCH(1,1)-t fitted once on the training split, then filtered with fixed parameters.

    Works in percent returns (arch's preferred scale). The variance recursion is run here
    rather than through arch on the full series, because arch derives its variance bounds
    from the whole sample; this one is causal by construction and starts like arch does,
    sigma2_0 = omega + (alpha + beta) * backcast, with the backcast from the training split.
    `fits`: where fits of the same training split are kept (None: fit every time).
    """
    if fit_end < GARCH_MIN_RETURNS:
        raise InputError(
            f"too little training data for GARCH: need at least {GARCH_MIN_RETURNS} returns, "
            f"got {fit_end}"
        )
    scaled = 100.0 * returns
    training = garch_training(returns, fit_end)
    key = GarchFits.key(training) if fits is not None else ""
    fit = fits.get(key) if fits is not None else None
    if fit is None:
        fit = _fit_garch(training)
        if fits is not None:
            fits.put(key, fit)
    mu, omega, alpha, beta, nu = fit.mu, fit.omega, fit.alpha, fit.beta, fit.nu
    resid = scaled - mu
    start = omega + (alpha + beta) * fit.backcast
    sigma2 = _recursion(omega + alpha * resid[:-1] ** 2, 1.0, beta, start)
    sigma = np.sqrt(sigma2)[targets]
    z = t_quantiles(taus, nu) * np.sqrt((nu - 2.0) / nu)
    quantiles = (mu + sigma[:, None] * z[None, :]) / 100.0
    return BaselineForecast(quantiles=quantiles, point=np.full(targets.size, mu / 100.0))


def baseline_forecasts(
    returns: np.ndarray,
    fit_end: int,
    targets: np.ndarray,
    levels: Sequence[float] = LEVELS,
    names: Sequence[str] = BASELINES,
    fits: GarchFits | None = None,
) -> dict[str, BaselineForecast]:
    """The baselines' forecasts of returns[j] for each target j, from returns[:j] only.

    returns[:fit_end] is the training split: the only data used to fit or initialise.
    `names` picks which of the three to compute; `fits` keeps GARCH fits (`GarchFits`).
    """
    returns = np.asarray(returns, dtype=np.float64)
    targets = np.asarray(targets)
    if targets.size and not np.issubdtype(targets.dtype, np.integer):
        raise InputError("targets must be integer indices into returns")
    targets = targets.astype(np.int64)
    _check(returns, int(fit_end), targets)
    taus = np.asarray(levels, dtype=np.float64)
    build = {
        "ewma": lambda: _ewma(returns, int(fit_end), targets, special.ndtri(taus)),
        "empirical": lambda: _empirical(returns, targets, taus),
        "garch": lambda: _garch(returns, int(fit_end), targets, taus, fits),
    }
    return {name: build[name]() for name in names}
