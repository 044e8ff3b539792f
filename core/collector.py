"""The cyclic garbage collector, paused over work that makes many objects and no cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def pause() -> bool:
    """Stop the cyclic collector; whether this call stopped it (False: it was already off, and
    whoever turned it off will turn it on)."""
    if not gc.isenabled():
        return False
    gc.disable()
    return True


def resume(paused: bool) -> None:
    """Undo `pause`: the collector runs again only if that call stopped it."""
    if paused:
        gc.enable()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block without the cyclic collector; it comes back as it was, also on error.

    A micro-batch makes tens of thousands of small objects (messages, states, tuples) that
    reference counting frees or that live on, and none that form cycles: the collector's
    passes in between found nothing and cost about a fifth of the batch. Whatever the block
    leaves is scanned once, at the first collection after it.
    """
    paused = pause()
    try:
        yield
    finally:
        resume(paused)
