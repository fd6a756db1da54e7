"""Named crash points for the fault-injection suite (tests/test_faults.py).

WHY in the product code: "kill -9 at any moment converges" can only be shown by killing the real
process at the real moments (between a file and the status that points at it, between a rename and
the index that announces it). ``SUKF_FAULT_AT=<point>`` makes the process SIGKILL itself when it
reaches that point; unset (always, outside the tests) a point costs one dictionary lookup.

``SUKF_PAUSE_AT=<point>`` with ``SUKF_PAUSE_FILE=<path>`` makes it wait there instead: it creates
``<path>.reached`` and goes on once ``<path>`` exists. WHY: "a second coordinator waits for the first and is
told who holds the installation" can only be shown deterministically if the first is held inside its run
while the second starts; a load is otherwise over before a second process has imported Dagster.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

POINTS = (
    "ingest.after_archive",       # raw bytes durable, not yet registered
    "ingest.after_register",      # registered, landing copy not yet removed
    "validate.after_validated",   # validated parquet written, register still says "received"
    "validate.after_record",      # register says "accepted", not yet staged
    "stage.after_link",           # one municipality staged, others not
    "transform.before_dbt",       # intake done, dbt not started
    "publish.after_objects",      # period objects written, vintage folder not yet in place
    "publish.after_rename",       # vintage folder in place, index not yet updated
)


PAUSE_LIMIT_S = 300.0
"""A paused process goes on by itself after this long (a test that died must not leave it waiting)."""


def point(name: str) -> None:
    """SIGKILL this process here if the fault suite asked for it (or pause here, see above)."""
    if os.environ.get("SUKF_FAULT_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("SUKF_PAUSE_AT") == name and os.environ.get("SUKF_PAUSE_FILE"):
        gate = Path(os.environ["SUKF_PAUSE_FILE"])
        gate.with_name(gate.name + ".reached").touch()
        deadline = time.monotonic() + PAUSE_LIMIT_S
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
