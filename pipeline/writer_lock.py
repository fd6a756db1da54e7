"""One writer at a time per installation: every step that changes restricted or published state holds it.

WHY a file lock (``fcntl.flock``) and not Dagster's run queue or concurrency pools: ``sukf load`` runs
in-process (it bypasses the queue), ``dagster dev`` runs steps in subprocesses, and a pool slot held by
a killed run stays taken in Dagster's storage until someone deletes the run. The kernel releases a
flock when its process dies, so a dead holder can never block the next load; the holder's identity is
kept in the lock file so a waiting coordinator is told who holds it.

Re-entrant within a process (``sukf load`` holds it around the whole run; the run's steps, executed
in the same process, take it again without deadlocking).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from pipeline.settings import Paths

log = logging.getLogger(__name__)
LOCK_FILE = "writer.lock"

_depth_lock = threading.Lock()
_depth: dict[str, int] = {"n": 0, "pid": 0}


class Busy(Exception):  # noqa: N818 - a state, not a failure of ours
    """Another process holds the installation (``holder`` says who, in Swedish)."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"Installationen används redan av {holder}.")
        self.holder = holder


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(info: dict) -> str:
    when = str(info.get("since", ""))[11:19]
    who = info.get("what", "okänd process")
    return f"{who} (pid {info.get('pid', '?')} på {info.get('host', '?')}, sedan {when} UTC)"


def _read(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        return json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return {}


@contextmanager
def writer_lock(paths: Paths, what: str, *, wait: bool = True,
                on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the installation's writer lock while the block runs.

    ``wait=False`` raises :class:`Busy` instead of waiting. ``on_wait`` is told (once) who holds it.
    """
    with _depth_lock:
        if _depth["n"] > 0 and _depth.get("pid") == os.getpid():
            _depth["n"] += 1
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield
        finally:
            with _depth_lock:
                _depth["n"] -= 1
        return

    paths.restricted.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.restricted / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe(_read(fd))
            if not wait:
                raise Busy(holder) from None
            if on_wait:
                on_wait(holder)
            started = time.monotonic()
            fcntl.flock(fd, fcntl.LOCK_EX)
            log.info("writer lock acquired after waiting %.1f s for %s", time.monotonic() - started, holder)
        previous = _read(fd)
        if previous.get("pid") and not pid_alive(int(previous["pid"])):
            log.warning("released a stale writer lock left by %s (the process is gone)", describe(previous))
        info = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info, ensure_ascii=False).encode("utf-8"))
        with _depth_lock:
            _depth.update(n=1, pid=os.getpid())
        try:
            yield
        finally:
            with _depth_lock:
                _depth["n"] = 0
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
