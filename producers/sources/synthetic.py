"""Seeded geometric Brownian motion with volatility regimes, on B3 trading days."""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from producers.calendar import trading_days

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Regime:
    name: str
    daily_vol: float


CALM = Regime("calm", 0.015)
TURBULENT = Regime("turbulent", 0.045)


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the generator; defaults resemble a liquid B3 stock."""

    seed: int = 7
    drift_per_year: float = 0.08
    mean_regime_days: float = 120.0
    turbulent_share: float = 0.25


def ticker_seed(seed: int, ticker: str) -> int:
    """A seed that differs per ticker and is the same in every process (unlike hash())."""
    return (seed * 1_000_003 + zlib.crc32(ticker.encode())) % 2**32


def regimes(n: int, rng: np.random.Generator, spec: SyntheticSpec) -> np.ndarray:
    """Daily volatility path of a two-state Markov chain (calm/turbulent)."""
    leave = 1.0 / spec.mean_regime_days
    enter = leave * spec.turbulent_share / (1.0 - spec.turbulent_share)
    vol = np.empty(n)
    turbulent = False
    switches = rng.random(n)
    for i in range(n):
        turbulent = switches[i] >= leave if turbulent else switches[i] < enter
        vol[i] = TURBULENT.daily_vol if turbulent else CALM.daily_vol
    return vol


def gbm_bars(ticker: str, days: pd.DatetimeIndex, spec: SyntheticSpec) -> pd.DataFrame:
    """OHLCV bars for `days`; the same ticker, seed and first day give the same prefix.

    Each random stream has its own generator, so asking for more days never changes the
    earlier ones.
    """
    seeds = np.random.SeedSequence(ticker_seed(spec.seed, ticker)).spawn(4)
    price_rng, regime_rng, shock_rng, volume_rng = (np.random.default_rng(s) for s in seeds)
    n = len(days)
    start_price = float(price_rng.uniform(5.0, 50.0))
    vol = regimes(n, regime_rng, spec)
    shocks = shock_rng.standard_normal((n, 4))
    mu = spec.drift_per_year / 252.0 - 0.5 * vol**2
    log_close = np.log(start_price) + np.cumsum(mu + vol * shocks[:, 0])
    close = np.exp(log_close)
    prev = np.concatenate([[start_price], close[:-1]])
    open_ = prev * np.exp(0.25 * vol * shocks[:, 1])
    high = np.maximum(open_, close) * np.exp(0.5 * vol * np.abs(shocks[:, 2]))
    low = np.minimum(open_, close) * np.exp(-0.5 * vol * np.abs(shocks[:, 3]))
    volume = np.round(volume_rng.lognormal(mean=16.0, sigma=0.4, size=n))
    return pd.DataFrame(
        {"date": days, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )


def synthetic_bars(
    ticker: str, start: date, end: date, spec: SyntheticSpec | None = None
) -> pd.DataFrame:
    """Bars on the B3 trading days in [start, end]."""
    days = trading_days(start, end)
    bars = gbm_bars(ticker, days, spec or SyntheticSpec())
    logger.debug("generated %d synthetic bars for %s", len(bars), ticker)
    return bars
