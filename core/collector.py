"""The cyclic garbage collector, paused over work that makes many objects and no cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block without the cyclic collector; it comes back as it was, also on error.

    A micro-batch makes tens of thousands of small objects (messages, states, tuples) that
    reference counting frees or that live on, and none that form cycles: the collector's
    passes in between found nothing and cost about a fifth of the batch. Whatever the block
    leaves is scanned once, at the first collection after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
