"""What the worker keeps per ticker in its changelog-backed table, and its JSON form.

Everything a restarted worker needs to go on exactly where it stopped: the window, the drift
state, each quantile level's adaptive (ACI) correction, the forecast waiting for its close,
the last scored sessions and the performance alerts' states. State written by an older
worker (window and drift only) reads with the rest at its start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from streams.alerts import DriftState
from streams.windows import Window

ScoreRow = tuple[float, float, bool, bool, float]  # |error|, |naive error|, in 80%, in 95%, pinball
ROW_WIDTH = 5


def _frozen(rows: np.ndarray) -> np.ndarray:
    """Score rows are shared between successive states, so nobody may write them in place."""
    rows.flags.writeable = False
    return rows


_NO_ROWS = _frozen(np.empty((0, ROW_WIDTH)))


@dataclass(frozen=True)
class Calibrated:
    """A ticker's effective interval coverages under one model version (ACI moves them), one
    per central interval of the forecaster's levels (0.8 for 0.1 and 0.9), narrowest first."""

    version: str = ""
    coverages: tuple[float, ...] = ()

    def for_model(self, version: str, nominal: tuple[float, ...]) -> Calibrated:
        """These coverages if they belong to `version`; else a restart at the nominal ones,
        the new model's own split conformal state."""
        if self.version == version and len(self.coverages) == len(nominal):
            return self
        return Calibrated(version, nominal)


@dataclass(frozen=True)
class Outstanding:
    """The ticker's latest forecast, waiting for the close of its target date."""

    id: str
    ticker: str
    as_of: date
    target_date: date
    model_name: str
    model_version: str
    last_close: float
    predicted_close: float
    levels: tuple[float, ...]  # the nominal levels of the quantiles below
    return_quantiles: tuple[float, ...]  # as sent, with intervals at ACI's moved coverages
    center: float = 0.0  # the point log return the intervals are centred on
    coverages: tuple[float, ...] = ()  # nominal coverage of each interval...
    radii: tuple[float, ...] = ()  # ...and its half-width as sent; () from older workers

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "as_of": self.as_of.isoformat(),
            "target_date": self.target_date.isoformat(),
            "levels": list(self.levels),
            "return_quantiles": list(self.return_quantiles),
            "coverages": list(self.coverages),
            "radii": list(self.radii),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Outstanding | None:
        if not data:
            return None
        return cls(
            **{
                **data,
                "as_of": date.fromisoformat(data["as_of"]),
                "target_date": date.fromisoformat(data["target_date"]),
                "levels": tuple(data["levels"]),
                "return_quantiles": tuple(data["return_quantiles"]),
                "coverages": tuple(data.get("coverages", ())),
                "radii": tuple(data.get("radii", ())),
            }
        )


@dataclass(frozen=True, eq=False)
class ScoreHistory:
    """The last scored sessions of one ticker under one model version, oldest first.

    `rows` is an N x 5 float array of score rows (booleans as 0/1), never written in place:
    the stream reads it whole on every scored close, so it is kept in that form.
    """

    version: str = ""
    rows: np.ndarray = field(default_factory=lambda: _NO_ROWS)

    def add(self, version: str, row: ScoreRow, keep: int) -> ScoreHistory:
        """Append a session; a new model version starts its history afresh."""
        kept = (
            self.rows[max(len(self.rows) - keep + 1, 0) :] if version == self.version else _NO_ROWS
        )
        # np.vstack's checks and its promotion of the row cost more than the copy itself.
        rows = np.empty((len(kept) + 1, ROW_WIDTH))
        rows[:-1] = kept
        rows[-1] = row
        return ScoreHistory(version, _frozen(rows))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScoreHistory):
            return NotImplemented
        return self.version == other.version and np.array_equal(self.rows, other.rows)


@dataclass(frozen=True)
class TickerState:
    """Everything the worker keeps for one ticker."""

    window: Window = field(default_factory=Window)
    drift: DriftState = field(default_factory=DriftState)
    calibration: Calibrated = field(default_factory=Calibrated)
    outstanding: Outstanding | None = None
    history: ScoreHistory = field(default_factory=ScoreHistory)
    skill: DriftState = field(default_factory=DriftState)
    coverage: DriftState = field(default_factory=DriftState)
    position: tuple[int, int] | None = None  # (partition, offset) of the last message applied
    synthetic: bool = False  # the kind of prices it holds: real and synthetic never mix

    def evolve(self, **changes: Any) -> TickerState:
        """`dataclasses.replace`, without its walk over the fields and the frozen __init__:
        it runs several times per close, and TickerState has no __post_init__ to honour."""
        unknown = changes.keys() - self.__dict__.keys()
        if unknown:
            raise TypeError(f"TickerState has no field {sorted(unknown)}")
        new = object.__new__(TickerState)
        new.__dict__.update(self.__dict__, **changes)
        return new

    def for_kind(self, synthetic: bool) -> TickerState:
        """This state for a close of that kind; for the other kind, a fresh start (keeping only
        the position), so that synthetic closes never enter a real window, nor real ones a
        synthetic window, and a real replay after a synthetic one is not taken as stale."""
        if synthetic == self.synthetic:
            return self
        return TickerState(position=self.position, synthetic=synthetic)

    def seen(self, partition: int, offset: int) -> bool:
        """Whether this message was applied already: Kafka redelivers after a crash, from the
        last committed offset, and a ticker's messages all come from one partition."""
        return (
            self.position is not None
            and self.position[0] == partition
            and offset <= self.position[1]
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window.to_json(),
            "drift": self.drift.to_json(),
            "calibration": {
                "version": self.calibration.version,
                "coverages": self.calibration.coverages,
            },
            "outstanding": self.outstanding.to_json() if self.outstanding else None,
            "history": {"version": self.history.version, "rows": self.history.rows.tolist()},
            "skill": self.skill.to_json(),
            "coverage": self.coverage.to_json(),
            "position": list(self.position) if self.position else None,
            "synthetic": self.synthetic,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TickerState:
        if not data:
            return cls()
        calibration = data.get("calibration") or {}
        history = data.get("history") or {}
        return cls(
            window=Window.from_json(data["window"]),
            drift=DriftState.from_json(data.get("drift")),
            # Per-level ACI state of older workers has no "coverages": it restarts at nominal.
            calibration=Calibrated(
                calibration.get("version", ""), tuple(calibration.get("coverages", ()))
            ),
            outstanding=Outstanding.from_json(data.get("outstanding")),
            history=ScoreHistory(
                history.get("version", ""),
                _rows(history.get("rows", ())),
            ),
            skill=DriftState.from_json(data.get("skill")),
            coverage=DriftState.from_json(data.get("coverage")),
            position=tuple(data["position"]) if data.get("position") else None,  # type: ignore[arg-type]
            synthetic=bool(data.get("synthetic", False)),
        )


def _rows(stored: Any) -> np.ndarray:
    """Score rows as stored (booleans written as true/false by older workers) as an array."""
    return _frozen(np.asarray(stored, dtype=np.float64).reshape(-1, ROW_WIDTH))
