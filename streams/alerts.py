"""Drift alert hysteresis: one alert on entering drift, one on recovering, never a storm."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from schemas.drift import DriftReport, DriftStatistic

logger = logging.getLogger(__name__)

AlertState = Literal["entered", "recovered"]


@dataclass(frozen=True)
class DriftState:
    """Whether a ticker is in drift, the current run of windows against that state, and the
    statistics that breached their thresholds when it entered (what a recovery reports on)."""

    drifting: bool = False
    streak: int = 0  # consecutive windows whose verdict differs from `drifting`
    breached: tuple[str, ...] = ()

    def to_json(self) -> dict:
        data: dict = {"drifting": self.drifting, "streak": self.streak}
        if self.breached:  # states written before it existed read the same
            data["breached"] = list(self.breached)
        return data

    @classmethod
    def from_json(cls, data: dict | None) -> DriftState:
        if not data:
            return cls()
        return cls(data["drifting"], data["streak"], tuple(data.get("breached", ())))


def step(
    state: DriftState,
    drift: bool,
    enter_after: int,
    recover_after: int,
    breaching: tuple[str, ...] = (),
) -> tuple[DriftState, AlertState | None]:
    """Next state after one window's verdict, and the alert to send, if any.

    Entering needs `enter_after` drifted windows in a row; recovering needs `recover_after`
    calm ones, so a verdict that flickers around a threshold raises no new alerts. On
    entering, the state keeps `breaching`: the statistics that breached in that window.
    """
    # The constructor, not dataclasses.replace: this runs for three states on every close.
    if drift == state.drifting:
        if state.streak == 0:
            return state, None
        return DriftState(state.drifting, 0, state.breached), None
    streak = state.streak + 1
    needed = recover_after if state.drifting else enter_after
    if streak < needed:
        return DriftState(state.drifting, streak, state.breached), None
    if drift:
        return DriftState(True, 0, breaching), "entered"
    return DriftState(False, 0), "recovered"


def recovered_statistics(
    breached: tuple[str, ...], statistics: list[DriftStatistic]
) -> list[DriftStatistic]:
    """What a recovery alert quotes: the statistics that breached on entering and are back
    inside their thresholds now, at their current values.

    Drift needs the KS test and a moment to breach together, so a ticker recovers when
    either comes back: a statistic still breaching is not what recovered. A state written
    before entries were kept knows no names; then every statistic back inside is quoted.
    """
    inside = [s for s in statistics if not s.drift]
    back = [s for s in inside if s.name in breached]
    return back or inside


def data_alert(
    state: DriftState, report: DriftReport, enter_after: int, recover_after: int
) -> tuple[DriftState, AlertState | None, list[DriftStatistic]]:
    """One window's drift report through the hysteresis: the next state, the alert to send
    (if any) and the statistics it quotes. Entering quotes the window's statistics, each
    with its verdict; recovering quotes those that recovered (`recovered_statistics`)."""
    breaching = tuple(s.name for s in report.statistics if s.drift)
    new, change = step(state, report.drift, enter_after, recover_after, breaching)
    if change == "recovered":
        return new, change, recovered_statistics(state.breached, report.statistics)
    return new, change, list(report.statistics)
