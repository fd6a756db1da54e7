"""CPython's cyclic garbage collector paused around bounded, allocation-heavy computations.

WHY: disclosure control and its audit build hundreds of thousands of small dicts and tuples (one vector per
quantity × region × period × gender) while the load process holds large traversable objects (pandas frames
with object columns, dbt's manifest, Dagster's definitions). CPython starts a collection every 700 net
allocations and a full one every few hundred thousand, each traversing all of them: ≈ 0.3 s CPU of a
national quarter's disclosure + audit went to collections that found almost nothing (measured with
``gc.callbacks``). Reference counting still frees everything those computations drop; only reference
cycles wait, and they are collected as usual once the pause ends.

Pauses nest and may come from several threads: the collector is re-enabled when the last one ends, and
only if it was enabled when the first began (a caller that disabled it itself keeps it disabled).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """No automatic cyclic collection inside the block (see the module's docstring for why)."""
    global _depth, _was_enabled
    entered = False
    try:  # entering inside the try: an interrupt on the way in must not leave the collector off for good
        with _LOCK:
            if _depth == 0:
                _was_enabled = gc.isenabled()
                gc.disable()
            _depth += 1
            entered = True
        yield
    finally:
        if entered:
            with _LOCK:
                _depth -= 1
                if _depth == 0 and _was_enabled:
                    gc.enable()
