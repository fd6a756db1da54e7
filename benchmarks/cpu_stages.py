"""CPU seconds per named stage, for the benchmark scripts (imported as a sibling: they run as scripts).

WHY by wrapping module attributes: the assets and validation look their functions up as module attributes
at call time, so wrapping them here times the real code path without a profiler's overhead.
"""

from __future__ import annotations

import resource
from collections.abc import Callable


def cpu(children: bool = True) -> float:
    """CPU seconds so far of this process (and, with ``children``, its waited-for children)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    total = me.ru_utime + me.ru_stime
    if children:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += kids.ru_utime + kids.ru_stime
    return total


class Stages:
    """CPU per stage name; several wrapped functions may add to one name."""

    def __init__(self, clock: Callable[[], float] = cpu) -> None:
        self.seconds: dict[str, float] = {}
        self.clock = clock

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def wrap(self, module, attribute: str, name: str) -> None:
        original = getattr(module, attribute)
        self.seconds.setdefault(name, 0.0)  # printed in the order wrapped, not in the order first run

        def timed(*args, **kwargs):
            started = self.clock()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(name, self.clock() - started)

        setattr(module, attribute, timed)

    def wrap_generator(self, module, attribute: str, name: str) -> None:
        original = getattr(module, attribute)
        self.seconds.setdefault(name, 0.0)

        def timed(*args, **kwargs):
            started = self.clock()
            try:
                yield from original(*args, **kwargs)
            finally:
                self.add(name, self.clock() - started)

        setattr(module, attribute, timed)
