"""The floor of any Faust worker on this machine: tickcast's worker with the pipeline taken out.

Run by `benchmarks/stream.py` as `python benchmarks/faust_floor.py`, with the environment of
`tickcast worker`. Everything of the worker stays (Faust's app and consumer with tickcast's
hand-over, `take_events` batches, `deliver`: the outputs sent and confirmed, then one table
write per ticker per batch) except `process_batch` and the encoding of its messages: each
close is sent on as its own raw bytes to `forecasts`, and each ticker's table entry is written
back as it was read. So no Faust worker that sends one message per close and keeps a table
can replay faster than this one here; it bounds what any pipeline can gain over another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from streams import app as worker_app
from streams.pipeline import BatchResult, Incoming
from streams.state import TickerState


class Forwarded(BatchResult):
    """A result that carries its batch, for `forwarded` to send it on unchanged."""

    batch: Sequence[Incoming] = ()


def forward_batch(
    batch: Sequence[Incoming], lookup: Callable[[str], TickerState], *_: Any, **__: Any
) -> BatchResult:
    """What `process_batch` returns, with none of its work: each ticker's state as read."""
    result = Forwarded(accepted=len(batch))
    result.batch = batch
    for message in batch:
        ticker = (message.key or b"").decode()
        if ticker not in result.states:
            result.states[ticker] = lookup(ticker)
    return result


def forwarded(names: dict[str, str], result: BatchResult) -> worker_app.Outgoing:
    """Each close's own bytes on `forecasts`, keyed by its ticker."""
    assert isinstance(result, Forwarded)
    records = [(names["forecasts"], m.key or b"", m.value or b"", 0.0) for m in result.batch]
    return worker_app.Outgoing(records, result.states)


def main() -> None:
    from core.config import get_settings
    from core.logs import setup_logging
    from streams.worker import run_worker

    for name in ("process_batch", "outgoing"):  # what the agent calls, by these names
        if not hasattr(worker_app, name):
            raise SystemExit(f"streams.app has no {name} any more: the floor would be the worker")
    worker_app.process_batch = forward_batch  # type: ignore[assignment]
    worker_app.outgoing = forwarded  # type: ignore[assignment]
    setup_logging(False)
    run_worker(get_settings())


if __name__ == "__main__":
    main()
