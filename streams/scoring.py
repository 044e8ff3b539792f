"""Each forecast checked against the close that follows it, the rolling figures, and the tests
behind performance alerts. Pure functions, called by the pipeline in message order."""

from __future__ import annotations

import math
import uuid

import numpy as np

from core.config import PerformanceSettings
from model.intervals import INTERVALS, LEVELS, binomial_band, pinball
from model.metrics import diebold_mariano
from schemas.drift import DriftStatistic
from schemas.messages import ForecastScore, RollingScores
from streams.state import Outstanding, ScoreHistory, ScoreRow

ROLLING = (20, 60)  # sessions of the rolling figures on every score
IDS = uuid.UUID("5b0c6a8e-6f2e-4c5e-9b7a-3f1d2c4b5a60")  # namespace of tickcast's message ids


def forecast_id(ticker: str, as_of: object, model_name: str, model_version: str) -> str:
    """The same forecast, sent twice after a crash, gets the same id."""
    return uuid.uuid5(IDS, f"forecast|{ticker}|{as_of}|{model_name}|{model_version}").hex


def score_id(forecast: str) -> str:
    return uuid.uuid5(IDS, f"score|{forecast}").hex


def alert_id(
    ticker: str, as_of: object, kind: str, reason: str | None, state: str, version: str
) -> str:
    return uuid.uuid5(IDS, f"alert|{ticker}|{as_of}|{kind}|{reason}|{state}|{version}").hex


def _at(levels: tuple[float, ...], level: float) -> int:
    return min(range(len(levels)), key=lambda i: abs(levels[i] - level))


def assess(outstanding: Outstanding, actual: float) -> tuple[ScoreRow, np.ndarray]:
    """The session's score row, and per level whether the actual return fell at or below."""
    y = math.log(actual / outstanding.last_close)
    q = np.asarray(outstanding.return_quantiles)
    levels = outstanding.levels
    inside = {
        name: bool(q[_at(levels, low)] <= y <= q[_at(levels, high)])
        for name, (low, high) in INTERVALS.items()
    }
    five = q[[_at(levels, level) for level in LEVELS]]
    loss = float(pinball(np.array([y]), five[None, :], LEVELS)[0])
    row: ScoreRow = (
        abs(actual - outstanding.predicted_close),
        abs(actual - outstanding.last_close),
        inside["80"],
        inside["95"],
        loss,
    )
    return row, (y <= q).astype(np.float64)


def rolling(rows: tuple[ScoreRow, ...], sessions: int) -> RollingScores:
    recent = np.asarray(rows[-sessions:], dtype=np.float64).reshape(-1, 5)
    naive = recent[:, 1].sum()
    return RollingScores(
        n=len(recent),
        mase=float(recent[:, 0].sum() / naive) if naive > 0 else None,
        coverage_80=float(recent[:, 2].mean()),
        coverage_95=float(recent[:, 3].mean()),
        pinball=float(recent[:, 4].mean()),
    )


def make_score(outstanding: Outstanding, actual: float, history: ScoreHistory) -> ForecastScore:
    """The score message; `history` already holds this session."""
    row = history.rows[-1]
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
        covered_80=row[2],
        covered_95=row[3],
        pinball=row[4],
        rolling={str(n): rolling(history.rows, n) for n in ROLLING},
    )


def verdicts(
    history: ScoreHistory, rules: PerformanceSettings
) -> dict[str, tuple[bool, list[DriftStatistic]]]:
    """reason -> (failing, statistics), once `rules.sessions` sessions are scored; else {}.

    skill: the model's absolute errors against naive's, one-sided Diebold-Mariano.
    coverage: the 80% interval's hits, against the binomial band of a calibrated interval.
    """
    if len(history.rows) < rules.sessions:
        return {}
    rows = np.asarray(history.rows[-rules.sessions :], dtype=np.float64)
    n = len(rows)
    test = diebold_mariano(rows[:, 0], rows[:, 1], power=1, alternative="greater")
    summary = rolling(history.rows, n)
    mase = summary.mase if summary.mase is not None else math.nan
    low, high = binomial_band(n, 0.8, rules.coverage_confidence)
    share = float(rows[:, 2].mean())
    skill_failing = test.pvalue < rules.skill_p
    coverage_failing = not low <= share <= high
    return {
        "skill": (
            skill_failing,
            [
                DriftStatistic(
                    name="dm_pvalue",
                    value=test.pvalue,
                    threshold=f"p < {rules.skill_p} (one-sided: worse than naive)",
                    drift=skill_failing,
                    detail=f"DM statistic {test.statistic:+.2f} on absolute errors, {n} sessions",
                ),
                DriftStatistic(
                    name=f"mase_{n}",
                    value=mase,
                    threshold="> 1 is worse than naive",
                    drift=skill_failing,
                    detail=f"model MAE / naive MAE over the last {n} scored sessions",
                ),
            ],
        ),
        "coverage": (
            coverage_failing,
            [
                DriftStatistic(
                    name=f"coverage_80_{n}",
                    value=share,
                    threshold=f"outside [{low:.3f}, {high:.3f}]",
                    drift=coverage_failing,
                    detail=f"{int(rows[:, 2].sum())} of {n} closes inside the 80% interval; "
                    f"binomial {rules.coverage_confidence:.0%} band of a calibrated one",
                )
            ],
        ),
    }
