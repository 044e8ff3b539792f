"""A recording double of the Forecaster, for in-process tests and for a worker process.

`python -m tests.utils.recording worker` runs the real `tickcast worker` with every
`Forecaster.forecast` call appended, as one JSON line, to the file in $TICKCAST_TEST_RECORD.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from model.forecaster import Forecaster, Prediction, WindowInput

RECORD_ENV = "TICKCAST_TEST_RECORD"

Sink = Callable[[list[dict]], None]


def install(sink: Sink) -> Callable[..., list[Prediction]]:
    """Replace Forecaster.forecast by a double that reports each call to `sink`, then forecasts."""
    real = Forecaster.forecast

    def recording(
        self: Forecaster, inputs: Sequence[WindowInput], **options: object
    ) -> list[Prediction]:
        sink(
            [
                {
                    "ticker": item.ticker,
                    "as_of": item.as_of.isoformat() if item.as_of else None,
                    "closes": [float(c) for c in item.closes],
                }
                for item in inputs
            ]
        )
        return real(self, inputs, **options)

    Forecaster.forecast = recording  # type: ignore[method-assign]
    return real


@contextmanager
def recorded() -> Iterator[list[list[dict]]]:
    """Inside, every Forecaster.forecast call is listed (one list of windows per call)."""
    calls: list[list[dict]] = []
    real = install(calls.append)
    try:
        yield calls
    finally:
        Forecaster.forecast = real  # type: ignore[method-assign]


def _append_to(path: Path) -> Sink:
    def sink(windows: list[dict]) -> None:
        with path.open("a") as out:
            out.write(json.dumps(windows) + "\n")

    return sink


def read(path: Path) -> list[list[dict]]:
    """The calls a recording worker made, one list of windows per call."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


if __name__ == "__main__":
    from tickcast.cli import app

    install(_append_to(Path(os.environ[RECORD_ENV])))
    app(prog_name="tickcast")
