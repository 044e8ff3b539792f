"""Drift periods of a backtest, from its alerts."""

from __future__ import annotations

import numpy as np


def drift_mask(as_of: np.ndarray, alerts: list[tuple[str, str]]) -> np.ndarray:
    """True for days inside a drifted period: from an `entered` alert to the next `recovered`."""
    events = sorted(alerts)
    mask = np.zeros(len(as_of), dtype=bool)
    start = None
    for day, state in events:
        if state == "entered" and start is None:
            start = day
        elif state == "recovered" and start is not None:
            mask |= (as_of >= start) & (as_of < day)
            start = None
    if start is not None:
        mask |= as_of >= start
    return mask
