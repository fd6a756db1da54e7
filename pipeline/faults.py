"""Named crash points for the fault-injection suite (tests/test_faults.py).

WHY in the product code: "kill -9 at any moment converges" can only be shown by killing the real
process at the real moments (between a file and the status that points at it, between a rename and
the index that announces it). ``SUKF_FAULT_AT=<point>`` makes the process SIGKILL itself when it
reaches that point; unset (always, outside the tests) a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

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


def point(name: str) -> None:
    """SIGKILL this process here if the fault suite asked for it."""
    if os.environ.get("SUKF_FAULT_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
