"""Drift alert hysteresis: one alert on entering drift, one on recovering, never a storm."""

from __future__ import annotations

import json

import pytest

from streams.alerts import DriftState, step


def _run(verdicts, enter_after: int = 1, recover_after: int = 5, state: DriftState | None = None):
    """Alerts, one per verdict (None when quiet), and the final state."""
    state = state or DriftState()
    alerts = []
    for drift in verdicts:
        state, alert = step(state, drift, enter_after, recover_after)
        alerts.append(alert)
    return alerts, state


def test_calm_stays_calm_without_alerts():
    alerts, state = _run([False] * 50)
    assert alerts == [None] * 50
    assert state == DriftState(drifting=False, streak=0)


def test_first_drifted_window_enters_with_enter_after_1():
    state, alert = step(DriftState(), True, enter_after=1, recover_after=5)
    assert alert == "entered"
    assert state == DriftState(drifting=True, streak=0)


def test_staying_drifted_gives_no_more_alerts():
    alerts, state = _run([True] * 30)
    assert alerts[0] == "entered"
    assert alerts[1:] == [None] * 29
    assert state.drifting


@pytest.mark.parametrize("recover_after", [1, 3, 5])
def test_recovery_needs_recover_after_calm_windows_in_a_row(recover_after: int):
    alerts, state = _run([True] + [False] * recover_after, recover_after=recover_after)
    assert alerts == ["entered"] + [None] * (recover_after - 1) + ["recovered"]
    assert state == DriftState(drifting=False, streak=0)


def test_recovery_streak_counts_up_before_recovering():
    alerts, state = _run([True, False, False, False, False], recover_after=5)
    assert alerts == ["entered", None, None, None, None]
    assert state == DriftState(drifting=True, streak=4)


def test_drifted_window_in_between_resets_the_calm_streak():
    verdicts = [True] + [False] * 4 + [True] + [False] * 4
    alerts, state = _run(verdicts, recover_after=5)
    assert alerts.count("recovered") == 0
    assert state.drifting
    state, alert = step(state, False, enter_after=1, recover_after=5)
    assert alert == "recovered"
    assert not state.drifting


def test_flickering_verdicts_raise_one_alert():
    verdicts = [True, False] * 40
    alerts, state = _run(verdicts, enter_after=1, recover_after=5)
    assert alerts.count("entered") == 1
    assert alerts.count("recovered") == 0
    assert alerts[0] == "entered"
    assert state.drifting


def test_enter_after_2_ignores_a_single_drifted_window():
    alerts, state = _run([False, True, False, False, True, False], enter_after=2)
    assert alerts == [None] * 6
    assert not state.drifting
    assert state.streak == 0


def test_enter_after_2_enters_on_the_second_in_a_row():
    alerts, state = _run([True, True, True], enter_after=2)
    assert alerts == [None, "entered", None]
    assert state == DriftState(drifting=True, streak=0)


def test_full_cycle_enters_and_recovers_once_each():
    verdicts = [False] * 10 + [True] * 20 + [False, True] * 5 + [False] * 10
    alerts, state = _run(verdicts, recover_after=5)
    raised = [a for a in alerts if a]
    assert raised == ["entered", "recovered"]
    assert alerts.index("entered") == 10
    assert alerts.index("recovered") == 10 + 20 + 10 + 4
    assert not state.drifting


@pytest.mark.parametrize(
    "state",
    [DriftState(), DriftState(drifting=True), DriftState(drifting=True, streak=3)],
)
def test_drift_state_json_round_trip(state: DriftState):
    data = json.loads(json.dumps(state.to_json()))
    assert data == {"drifting": state.drifting, "streak": state.streak}
    assert DriftState.from_json(data) == state


@pytest.mark.parametrize("data", [None, {}])
def test_drift_state_from_missing_json_is_calm(data):
    assert DriftState.from_json(data) == DriftState(drifting=False, streak=0)
