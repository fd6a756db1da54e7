"""A silent HiGHS instance, for the disclosure control's interval step and the audit's LP attack.

WHY: HiGHS prints its copyright banner on the C stdout when the first instance of a process is made,
before any option can switch output off — in the middle of ``sukf load``'s Swedish progress lines and
the completeness table. The first instance is made with the process's stdout (fd 1) pointed at
/dev/null for the few milliseconds it takes (under a lock, since the interval step runs in threads);
every instance has ``output_flag`` off. Only the solver object is shared here, no model.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

import highspy

_lock = threading.Lock()
_banner_shown = False


def new_highs() -> highspy.Highs:
    """A HiGHS instance with its output off (and the once-per-process banner swallowed)."""
    global _banner_shown
    with _lock:
        if not _banner_shown:
            _banner_shown = True
            h = _without_stdout(highspy.Highs)
        else:
            h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def _without_stdout(make: type[highspy.Highs]) -> highspy.Highs:
    try:
        sys.stdout.flush()
        saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):  # no real fd 1 (an embedding host): the banner is harmless
        return make()
    try:
        os.dup2(null, 1)
        try:
            return make()
        finally:
            ctypes.CDLL(None).fflush(None)  # the banner may sit in C's stdout buffer: drop it into /dev/null
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
