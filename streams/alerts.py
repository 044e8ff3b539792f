"""Drift alert hysteresis: one alert on entering drift, one on recovering, never a storm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AlertState = Literal["entered", "recovered"]


@dataclass(frozen=True)
class DriftState:
    """Whether a ticker is in drift, and the current run of windows against that state."""

    drifting: bool = False
    streak: int = 0  # consecutive windows whose verdict differs from `drifting`

    def to_json(self) -> dict:
        return {"drifting": self.drifting, "streak": self.streak}

    @classmethod
    def from_json(cls, data: dict | None) -> DriftState:
        return cls(**data) if data else cls()


def step(
    state: DriftState, drift: bool, enter_after: int, recover_after: int
) -> tuple[DriftState, AlertState | None]:
    """Next state after one window's verdict, and the alert to send, if any.

    Entering needs `enter_after` drifted windows in a row; recovering needs `recover_after`
    calm ones, so a verdict that flickers around a threshold raises no new alerts.
    """
    # The constructor, not dataclasses.replace: this runs for three states on every close.
    if drift == state.drifting:
        return (state if state.streak == 0 else DriftState(state.drifting, 0)), None
    streak = state.streak + 1
    needed = recover_after if state.drifting else enter_after
    if streak < needed:
        return DriftState(state.drifting, streak), None
    return DriftState(drifting=drift, streak=0), "entered" if drift else "recovered"
