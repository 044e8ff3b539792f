"""Each forecast checked against the close that follows it, the rolling figures, and the tests
behind performance alerts. Pure functions, called by the pipeline in message order."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.config import PerformanceSettings
from model.intervals import INTERVALS, LEVELS, binomial_band, pinball_one
from model.metrics import DieboldMariano, diebold_mariano
from schemas.drift import DriftStatistic
from schemas.messages import ForecastScore, RollingScores
from streams.state import Outstanding, ScoreRow

ROLLING = (20, 60)  # sessions of the rolling figures on every score
IDS = uuid.UUID("5b0c6a8e-6f2e-4c5e-9b7a-3f1d2c4b5a60")  # namespace of tickcast's message ids
_NAMESPACE = IDS.bytes


def _uuid5_hex(name: str) -> str:
    """uuid.uuid5(IDS, name).hex, without building a UUID object: two of these per close."""
    digest = bytearray(hashlib.sha1(_NAMESPACE + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


def forecast_id(ticker: str, as_of: object, model_name: str, model_version: str) -> str:
    """The same forecast, sent twice after a crash, gets the same id."""
    return _uuid5_hex(f"forecast|{ticker}|{as_of}|{model_name}|{model_version}")


def score_id(forecast: str) -> str:
    return _uuid5_hex(f"score|{forecast}")


def alert_id(
    ticker: str, as_of: object, kind: str, reason: str | None, state: str, version: str
) -> str:
    return _uuid5_hex(f"alert|{ticker}|{as_of}|{kind}|{reason}|{state}|{version}")


@lru_cache(maxsize=64)
def _positions(levels: tuple[float, ...]) -> tuple[dict[str, tuple[int, int]], tuple[int, ...]]:
    """Where each interval's bounds, and the five standard levels, sit among `levels`."""

    def at(level: float) -> int:
        return min(range(len(levels)), key=lambda i: abs(levels[i] - level))

    bounds = {name: (at(low), at(high)) for name, (low, high) in INTERVALS.items()}
    return bounds, tuple(at(level) for level in LEVELS)


def assess(outstanding: Outstanding, actual: float) -> tuple[ScoreRow, tuple[float, ...]]:
    """The session's score row, and per interval whether the actual return fell inside it.

    Plain floats rather than numpy: a handful of numbers per close, where numpy's per-call
    cost was most of the time.
    """
    y = math.log(actual / outstanding.last_close)
    q = outstanding.return_quantiles
    bounds, five = _positions(outstanding.levels)
    inside = {name: q[low] <= y <= q[high] for name, (low, high) in bounds.items()}
    row: ScoreRow = (
        abs(actual - outstanding.predicted_close),
        abs(actual - outstanding.last_close),
        inside["80"],
        inside["95"],
        pinball_one(y, [q[i] for i in five], LEVELS),
    )
    distance = abs(y - outstanding.center)
    return row, tuple(float(distance <= radius) for radius in outstanding.radii)


def rolling(rows: np.ndarray, sessions: int) -> RollingScores:
    """The figures over the last `sessions` of `rows` (an N x 5 array of score rows)."""
    recent = rows[-sessions:]
    n = len(recent)
    model, naive, in_80, in_95, loss = recent.sum(axis=0).tolist()
    return RollingScores(
        n=n,
        mase=model / naive if naive > 0 else None,
        coverage_80=in_80 / n,
        coverage_95=in_95 / n,
        pinball=loss / n,
    )


def make_score(outstanding: Outstanding, actual: float, rows: np.ndarray) -> ForecastScore:
    """The score message; `rows` (the ticker's history as an array) ends with this session."""
    row = rows[-1].tolist()
    error = actual - outstanding.predicted_close
    return ForecastScore(
        id=score_id(outstanding.id),
        forecast_id=outstanding.id,
        ticker=outstanding.ticker,
        as_of=outstanding.as_of,
        target_date=outstanding.target_date,
        model_name=outstanding.model_name,
        model_version=outstanding.model_version,
        predicted_close=outstanding.predicted_close,
        actual_close=actual,
        error=error,
        abs_error=abs(error),
        pct_error=100.0 * error / actual,
        naive_error=actual - outstanding.last_close,
        covered_80=bool(row[2]),
        covered_95=bool(row[3]),
        pinball=float(row[4]),
        rolling={str(n): rolling(rows, n) for n in ROLLING},
    )


@dataclass(frozen=True)
class Verdict:
    """One performance test's outcome; its statistics are built only for an alert."""

    failing: bool
    describe: Callable[[], list[DriftStatistic]]


def verdicts(history: np.ndarray, rules: PerformanceSettings) -> dict[str, Verdict]:
    """reason -> its verdict, once `rules.sessions` sessions are scored; else {}.

    skill: the model's absolute errors against naive's, one-sided Diebold-Mariano.
    coverage: the 80% interval's hits, against the binomial band of a calibrated interval.
    """
    if len(history) < rules.sessions:
        return {}
    rows = history[-rules.sessions :]
    n = len(rows)
    low, high = binomial_band(n, 0.8, rules.coverage_confidence)
    inside = int(rows[:, 2].sum())
    share = inside / n
    coverage_failing = not low <= share <= high

    def dm() -> DieboldMariano:
        return diebold_mariano(rows[:, 0], rows[:, 1], power=1, alternative="greater")

    # No larger loss than naive's means a one-sided p of at least 0.5, above any allowed
    # skill_p: the test runs only when the model is behind (a shrunk-to-naive model never is).
    behind = float((rows[:, 0] - rows[:, 1]).sum()) > 0.0
    skill_failing = behind and dm().pvalue < rules.skill_p

    def skill() -> list[DriftStatistic]:
        test = dm()
        mase = rolling(rows, n).mase
        return [
            DriftStatistic(
                name="dm_pvalue",
                value=test.pvalue,
                threshold=f"p < {rules.skill_p} (one-sided: worse than naive)",
                drift=skill_failing,
                detail=f"DM statistic {test.statistic:+.2f} on absolute errors, {n} sessions",
            ),
            DriftStatistic(
                name=f"mase_{n}",
                value=math.nan if mase is None else mase,
                threshold="> 1 is worse than naive",
                drift=skill_failing,
                detail=f"model MAE / naive MAE over the last {n} scored sessions",
            ),
        ]

    def coverage() -> list[DriftStatistic]:
        return [
            DriftStatistic(
                name=f"coverage_80_{n}",
                value=share,
                threshold=f"outside [{low:.3f}, {high:.3f}]",
                drift=coverage_failing,
                detail=f"{inside} of {n} closes inside the 80% interval; "
                f"binomial {rules.coverage_confidence:.0%} band of a calibrated one",
            )
        ]

    return {"skill": Verdict(skill_failing, skill), "coverage": Verdict(coverage_failing, coverage)}
