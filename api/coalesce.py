"""Single-window forecasts asked for in one turn of the event loop, forecast in one pass.

Under load, the requests read from every ready connection reach here in the same turn; the
Forecaster validates, featurises and runs the network for all of them at once, which costs a
fraction per window of one pass each. The pass runs on the loop itself, as a single forecast
did: a thread hop costs more than the work. On one thread ONNX Runtime gives a window the
same bits whatever batch it is in, so an answer never depends on its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from api import metrics
from core.errors import TickcastError
from model.forecaster import Forecaster, Prediction, WindowInput

#: (the model asked, the window, where its answer goes)
Waiting = tuple[Forecaster, WindowInput, asyncio.Future]


class Coalescer:
    """Collects windows until the loop's next turn, then forecasts them in passes of at most
    `limit`. Windows for different models, or with and without daily bars, never share one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._waiting: list[Waiting] = []  # not empty: a pass is due on the loop's next turn

    def forecast(self, forecaster: Forecaster, item: WindowInput) -> Awaitable[Prediction]:
        loop = asyncio.get_running_loop()
        if not self._waiting:  # after every request already read in this turn
            loop.call_soon(self._run)
        answer = loop.create_future()
        self._waiting.append((forecaster, item, answer))
        return answer

    def _run(self) -> None:
        waiting, self._waiting = self._waiting, []
        groups: dict[tuple[int, bool], list[Waiting]] = {}
        for entry in waiting:
            groups.setdefault((id(entry[0]), entry[1].bars is None), []).append(entry)
        for group in groups.values():
            for start in range(0, len(group), self.limit):
                _forecast(group[start : start + self.limit])


def _forecast(group: list[Waiting]) -> None:
    """One pass for the group. A window the model refuses fails the whole pass, so each is
    then forecast alone and gets its own answer or error, as without coalescing."""
    live = [entry for entry in group if not entry[2].done()]  # a client that left: skip
    if not live:
        return
    try:
        predictions = live[0][0].forecast([item for _, item, _ in live])
    except TickcastError as exc:
        if len(live) == 1:
            live[0][2].set_exception(exc)
        else:
            for entry in live:
                _forecast([entry])
        return
    except Exception as exc:  # a bug: every request of the pass answers 500, none hangs
        for _, _, answer in live:
            answer.set_exception(exc)
        return
    metrics.PREDICT_PASS.observe(len(live))
    for (_, _, answer), prediction in zip(live, predictions, strict=True):
        answer.set_result(prediction)
