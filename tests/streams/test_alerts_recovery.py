"""A recovery alert quotes the statistics that recovered, never ones that still breach."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.config import DriftSettings
from model.drift import assess_drift, build_baselines
from schemas.drift import DriftReport, DriftStatistic
from streams.alerts import DriftState, data_alert, recovered_statistics, step

THRESHOLDS = {"ks_pvalue": "p < 0.05", "volatility_ratio": "outside [0.5, 2.0]"}


def stat(name: str, value: float, drift: bool) -> DriftStatistic:
    return DriftStatistic(
        name=name, value=value, threshold=THRESHOLDS.get(name, "|z| > 3"), drift=drift
    )


def report(ks: bool, vol: bool, mean: bool) -> DriftReport:
    """A window's report; drift needs the KS test and a moment together, as model.drift."""
    return DriftReport(
        drift=ks and (vol or mean),
        baseline="AAA",
        statistics=[
            stat("ks_pvalue", 0.001 if ks else 0.4, ks),
            stat("volatility_ratio", 2.6 if vol else 1.1, vol),
            stat("mean_return_z", 3.5 if mean else 0.2, mean),
        ],
    )


def run(reports: list[DriftReport], enter_after: int = 1, recover_after: int = 2):
    """(state, alert state, quoted names) after each window."""
    state, out = DriftState(), []
    for r in reports:
        state, change, quoted = data_alert(state, r, enter_after, recover_after)
        out.append((state, change, [s.name for s in quoted]))
    return out


def test_entering_keeps_what_breached_and_quotes_the_whole_window() -> None:
    [(state, change, quoted)] = run([report(ks=True, vol=True, mean=False)])
    assert change == "entered"
    assert state == DriftState(drifting=True, streak=0, breached=("ks_pvalue", "volatility_ratio"))
    assert quoted == ["ks_pvalue", "volatility_ratio", "mean_return_z"]  # each with its verdict


def test_recovery_leaves_out_a_statistic_that_still_breaches() -> None:
    """The volatility came back but KS still says the returns differ: only the volatility
    recovered (the ticker is calm because drift needs both)."""
    windows = [report(ks=True, vol=True, mean=False)] + [report(ks=True, vol=False, mean=False)] * 2
    out = run(windows)
    state, _, quoted = out[-1]
    assert [c for _, c, _ in out] == ["entered", None, "recovered"]
    assert quoted == ["volatility_ratio"]
    assert state == DriftState()  # calm again, nothing kept


def test_recovery_quotes_current_values_of_every_breached_statistic_back_inside() -> None:
    entered = DriftState(drifting=True, breached=("ks_pvalue", "mean_return_z"))
    calm = report(ks=False, vol=False, mean=False)
    _, change, quoted = data_alert(entered, calm, enter_after=1, recover_after=1)
    assert change == "recovered"
    assert [(s.name, s.value, s.drift) for s in quoted] == [
        ("ks_pvalue", 0.4, False),
        ("mean_return_z", 0.2, False),
    ]  # the volatility never breached: not a recovery of its own


def test_a_statistic_that_breached_after_entering_is_not_quoted() -> None:
    """Only what breached on entering can recover; the mean drifting later and coming back
    while KS stays out is not news of a recovery either."""
    out = run(
        [
            report(ks=True, vol=True, mean=False),
            report(ks=True, vol=True, mean=True),
            report(ks=False, vol=True, mean=False),
            report(ks=False, vol=True, mean=False),
        ]
    )
    assert [c for _, c, _ in out] == ["entered", None, None, "recovered"]
    assert out[-1][2] == ["ks_pvalue"]


def test_the_calm_streak_keeps_what_breached_until_it_recovers() -> None:
    out = run([report(True, True, False), report(False, False, False), report(True, True, True)])
    assert [s.breached for s, _, _ in out] == [("ks_pvalue", "volatility_ratio")] * 3
    assert [s.streak for s, _, _ in out] == [0, 1, 0]


def test_a_state_without_breached_names_quotes_what_is_inside_now() -> None:
    """A state from before the names were kept: recovery quotes the statistics inside."""
    now = report(ks=True, vol=False, mean=False).statistics
    assert [s.name for s in recovered_statistics((), now)] == ["volatility_ratio", "mean_return_z"]


def test_performance_states_step_as_before() -> None:
    """skill and coverage go through `step` with a bare verdict: nothing is kept."""
    state, change = step(DriftState(), True, enter_after=1, recover_after=1)
    assert (state, change) == (DriftState(drifting=True), "entered")
    assert step(state, False, enter_after=1, recover_after=1) == (DriftState(), "recovered")


@pytest.mark.parametrize(
    "state",
    [DriftState(), DriftState(True, 3), DriftState(True, 1, ("ks_pvalue", "mean_return_z"))],
)
def test_the_state_survives_the_changelog(state: DriftState) -> None:
    data = json.loads(json.dumps(state.to_json()))
    assert DriftState.from_json(data) == state
    assert ("breached" in data) is bool(state.breached)  # older states read the same


def test_a_real_recovery_never_quotes_a_breaching_statistic() -> None:
    """Through model.drift on real numbers: a volatility burst enters, a quiet spell recovers,
    and whatever KS says then, no quoted statistic is still breaching."""
    rng = np.random.default_rng(3)
    train = 10 * np.exp(np.cumsum(rng.normal(0, 0.01, 600)))
    baselines = build_baselines({"AAA": train})
    burst = 10 * np.exp(np.cumsum(rng.normal(0, 0.05, 60)))
    quiet = burst[-1] * np.exp(np.cumsum(rng.normal(0, 0.01, 120)))
    closes = np.concatenate([burst, quiet])
    state, alerts = DriftState(), []
    for end in range(60, len(closes) + 1):
        drift = assess_drift(closes[end - 60 : end], baselines, DriftSettings(), "AAA")
        state, change, quoted = data_alert(state, drift, enter_after=1, recover_after=3)
        if change:
            alerts.append((change, quoted))
    assert [change for change, _ in alerts][:2] == ["entered", "recovered"]
    recovery = alerts[1][1]
    assert recovery and not any(s.drift for s in recovery)
    assert {s.name for s in recovery} <= {s.name for s in alerts[0][1] if s.drift}
