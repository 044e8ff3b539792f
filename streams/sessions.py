"""How one accepted close changes its ticker, in message order.

First it settles the forecast that was waiting for it: a score, a step of adaptive conformal
inference (ACI) for each central interval's coverage, and the performance tests. Then, once
the window is full, its own forecast goes out at the moved coverages and waits for the next
close.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.config import PerformanceSettings
from model.forecaster import Forecaster, Prediction
from model.intervals import aci_step
from schemas.messages import DriftAlert, Forecast, PriceTick
from streams.alerts import DriftState, data_alert, step
from streams.scoring import ROLLING, alert_id, assess, forecast_id, make_score, verdicts
from streams.state import Calibrated, Outstanding, TickerState

if TYPE_CHECKING:
    from streams.pipeline import BatchResult


def settle(
    state: TickerState,
    tick: PriceTick,
    forecaster: Forecaster,
    rules: PerformanceSettings,
    result: BatchResult,
    message: bool = True,
) -> TickerState:
    """Score the forecast waiting for this close; a close past its target date expires it.
    `message=False` counts the score without building its message."""
    outstanding = state.outstanding
    if outstanding is None:
        return state
    if tick.date != outstanding.target_date:
        result.expired += 1
        return state.evolve(outstanding=None)
    row, inside = assess(outstanding, tick.close)
    keep = max(*ROLLING, rules.sessions)
    history = state.history.add(outstanding.model_version, row, keep)
    rows = history.rows
    result.scored += 1
    if message:
        result.scores.append(make_score(outstanding, tick.close, rows))
    calibration = state.calibration
    if (
        calibration.version == outstanding.model_version
        and len(calibration.coverages) == len(inside) > 0
    ):
        coverages = aci_step(
            calibration.coverages, outstanding.coverages, inside, forecaster.settings.aci_gamma
        )
        calibration = Calibrated(calibration.version, coverages)
    alerts = _performance(state, outstanding, rows, rules, result)
    return state.evolve(outstanding=None, history=history, calibration=calibration, **alerts)


def _performance(
    state: TickerState,
    scored: Outstanding,
    rows: np.ndarray,
    rules: PerformanceSettings,
    result: BatchResult,
) -> dict[str, DriftState]:
    """Each reason keeps its own hysteresis; an alert on entering and one on recovering.
    Returns each reason's new hysteresis state."""
    states = {}
    for reason, verdict in verdicts(rows, rules).items():
        new, change = step(
            getattr(state, reason), verdict.failing, rules.enter_after, rules.recover_after
        )
        states[reason] = new
        if change:
            result.alerts.append(
                DriftAlert(
                    id=alert_id(
                        scored.ticker,
                        scored.target_date,
                        "performance",
                        reason,
                        change,
                        scored.model_version,
                    ),
                    kind="performance",
                    reason=reason,
                    ticker=scored.ticker,
                    as_of=scored.target_date,
                    state=change,
                    statistics=verdict.describe(),
                    model_name=scored.model_name,
                    model_version=scored.model_version,
                )
            )
    return states


def forecast_message(
    state: TickerState, prediction: Prediction, forecaster: Forecaster, result: BatchResult
) -> TickerState:
    """Send this close's forecast (at the ticker's ACI coverages), step the drift hysteresis,
    and keep the forecast to score against the next close."""
    scoring = forecaster.settings.scoring
    calibration = state.calibration.for_model(forecaster.version, forecaster.coverages)
    if scoring:
        prediction = forecaster.at_coverages(prediction, calibration.coverages)
    # Synthetic and real forecasts of one ticker and day are different forecasts.
    whose = f"{prediction.ticker}|synthetic" if state.synthetic else prediction.ticker
    identity = forecast_id(whose, prediction.as_of, forecaster.name, forecaster.version)
    result.forecasts.append(
        Forecast(
            id=identity,
            ticker=prediction.ticker,
            as_of=prediction.as_of,
            target_date=prediction.target_date,  # type: ignore[arg-type]
            predicted_close=prediction.predicted_close,
            predicted_return=prediction.predicted_return,
            last_close=prediction.last_close,
            model_name=forecaster.name,
            model_version=forecaster.version,
            drift=prediction.drift,
            quantiles=prediction.quantiles,
            return_quantiles=prediction.return_quantiles,
            volatility=prediction.volatility,
            interval_method=prediction.interval_method,
            synthetic=state.synthetic,
            trained_on=forecaster.trained_on,
        )
    )
    thresholds = forecaster.drift
    drift, change, quoted = data_alert(
        state.drift, prediction.drift, thresholds.enter_after, thresholds.recover_after
    )
    if change:
        result.alerts.append(
            DriftAlert(
                id=alert_id(
                    prediction.ticker, prediction.as_of, "data", None, change, forecaster.version
                ),
                ticker=prediction.ticker,
                as_of=prediction.as_of,
                state=change,
                statistics=quoted,  # a recovery quotes what recovered
                model_name=forecaster.name,
                model_version=forecaster.version,
            )
        )
    outstanding = None
    if scoring:
        outstanding = Outstanding(
            id=identity,
            ticker=prediction.ticker,
            as_of=prediction.as_of,
            target_date=prediction.target_date,
            model_name=forecaster.name,
            model_version=forecaster.version,
            last_close=prediction.last_close,
            predicted_close=prediction.predicted_close,
            levels=tuple(forecaster.levels.tolist()),
            return_quantiles=tuple(prediction.return_quantiles.values()),
            center=prediction.predicted_return,
            coverages=forecaster.coverages,
            radii=prediction.radii,
        )
    return state.evolve(drift=drift, calibration=calibration, outstanding=outstanding)
