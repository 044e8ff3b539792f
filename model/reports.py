"""The figures every report gives (train, evaluate and backtest), per ticker and overall, on
exactly the same days for the model and for the three interval baselines.

Each scored day brings the last close, the actual next close, the shipped point forecast,
the network's unshrunk location and the quantiles of the next log return. The baselines are
forecast from each ticker's own price history, fitted up to `fit_until`, for the same days.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from core.errors import InputError
from model.baselines import BASELINES, GarchFits, baseline_forecasts
from model.features import returns_to_prices
from model.intervals import LEVELS, interval_figures
from model.metrics import score
from schemas.metrics import IntervalScores, MetricSet

OVERALL = "overall"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scored:
    """One row per forecast whose actual close is known."""

    ticker: np.ndarray  # N, str
    target_date: np.ndarray  # N, datetime64[D]
    last: np.ndarray  # N
    actual: np.ndarray  # N
    point: np.ndarray  # N, the shipped next-close forecast
    location: np.ndarray  # N, the network's own next log return, before shrinking
    quantiles: np.ndarray  # N x len(LEVELS), next log return

    def __len__(self) -> int:
        return len(self.actual)

    def take(self, rows: np.ndarray) -> Scored:
        """The rows of a boolean mask or of an index array."""
        return Scored(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))

    def groups(self) -> dict[str, np.ndarray]:
        """Each ticker's row indices (ascending), tickers in first-seen order.

        One sort for all tickers: a mask per ticker would scan every row once per ticker,
        which at 1,000 tickers costs more than the figures themselves."""
        codes, names = pd.factorize(self.ticker)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        return {
            str(name): order[bounds[i] : bounds[i + 1]] for i, name in enumerate(names.tolist())
        }


def training_split(frame: pd.DataFrame, until: date) -> tuple[np.ndarray, np.ndarray, int]:
    """A ticker's dates, its log returns (return j ends at frame row j + 1), and where its
    baselines' training split ends: returns[:fit_end] are those up to `until`."""
    dates = frame["date"].to_numpy().astype("datetime64[D]")
    returns = np.diff(np.log(frame["close"].to_numpy(dtype=np.float64)))
    fit_end = int(np.searchsorted(dates, np.datetime64(until, "D"), side="right")) - 1
    return dates, returns, fit_end


def baselines_for(
    scored: Scored,
    frames: dict[str, pd.DataFrame],
    fit_until: dict[str, date],
    fits: GarchFits | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (N x levels quantiles, N point returns) of each baseline, row for row.

    Each ticker's baselines are fitted on its returns up to `fit_until[ticker]` and forecast
    every scored target from the returns before it; `fits` keeps the GARCH fits on disk.
    """
    out = {
        name: (np.full_like(scored.quantiles, np.nan), np.full(len(scored), np.nan))
        for name in BASELINES
    }
    for ticker, rows in scored.groups().items():
        dates, returns, fit_end = training_split(frames[ticker], fit_until[ticker])
        targets = np.searchsorted(dates, scored.target_date[rows]) - 1
        if np.any(dates[targets + 1] != scored.target_date[rows]):
            raise InputError(f"{ticker}: a scored target date is missing from the price data")
        order = np.argsort(targets)
        for name in BASELINES:
            try:
                [forecast] = baseline_forecasts(
                    returns, fit_end, targets[order], LEVELS, (name,), fits
                ).values()
            except InputError as exc:  # e.g. GARCH on a short history: left out, not fatal
                logger.warning("%s: no %s baseline (%s)", ticker, name, exc)
                continue
            out[name][0][rows[order]] = forecast.quantiles
            out[name][1][rows[order]] = forecast.point
    return out


def _interval(scored: Scored, point: np.ndarray, quantiles: np.ndarray) -> IntervalScores:
    return IntervalScores(**interval_figures(scored.last, scored.actual, point, quantiles))


def _row(
    scored: Scored, baselines: dict[str, tuple[np.ndarray, np.ndarray]], shrink: float | None
) -> MetricSet:
    accuracy = score(scored.last, scored.actual, scored.point)
    unshrunk = returns_to_prices(scored.last, scored.location)
    naive_mae = accuracy.naive_mae
    intervals = _interval(scored, scored.point, scored.quantiles)
    return MetricSet(
        **accuracy.model_dump(exclude_none=True, exclude={"baselines"}),
        **intervals.model_dump(exclude={"n", "mase"}),
        mase_unshrunk=float(np.mean(np.abs(scored.actual - unshrunk)) / naive_mae)
        if naive_mae > 0 and np.isfinite(unshrunk).all()  # unknown for walk-forward blocks
        else None,
        shrink=shrink,
        baselines={
            name: _interval(scored, returns_to_prices(scored.last, point), quantiles)
            for name, (quantiles, point) in baselines.items()
        },
    )


def report_metrics(
    scored: Scored,
    baselines: dict[str, tuple[np.ndarray, np.ndarray]],
    shrink: float | None = None,
) -> dict[str, MetricSet]:
    """Per ticker, then 'overall' pooled over every scored day; baselines on the same rows."""
    if not len(scored):
        raise InputError("no forecast has its actual close in this range")
    result = {}
    for ticker, rows in scored.groups().items():
        part = {name: (q[rows], p[rows]) for name, (q, p) in baselines.items()}
        result[ticker] = _row(scored.take(rows), part, shrink)
    result[OVERALL] = _row(scored, baselines, shrink)
    return result
