"""One writer at a time per installation: every step that changes restricted or published state holds it.

WHY a file lock (``fcntl.flock``) and not Dagster's run queue or concurrency pools: ``sukf load`` runs
in-process (it bypasses the queue), ``dagster dev`` runs steps in subprocesses, and a pool slot held by
a killed run stays taken in Dagster's storage until someone deletes the run. The kernel releases a
flock when its process dies, so a dead holder can never block the next load; the holder's identity is
kept in the lock file so a waiting coordinator is told who holds it.

In the production profile (several coordinators on several hosts sharing the data folder) the lock is a
Postgres session advisory lock on the installation's database instead (same interface, same messages):
flock over NFS is not dependable, and the server releases an advisory lock when the holder's connection
ends (process killed, host gone: TCP keepalive), so a dead holder never blocks there either. The holder's
identity is kept in table ``sukf.writer_lock``.

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

from pipeline.settings import Paths, production

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
def _held_by_this_process() -> Iterator[None]:
    """Record that this process holds the lock (so nested writer_lock calls are re-entrant) while the block runs."""
    with _depth_lock:
        _depth.update(n=1, pid=os.getpid())
    try:
        yield
    finally:
        with _depth_lock:
            _depth["n"] = 0


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

    if production():
        with _pg_lock(what, wait=wait, on_wait=on_wait), _held_by_this_process():
            yield
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
        info = _holder_info(what)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info, ensure_ascii=False).encode("utf-8"))
        try:
            with _held_by_this_process():
                yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_PG_LOCK_KEY = "sukf.writer"
_PG_HOLDER_DDL = "create table if not exists writer_lock (id integer primary key, info text not null)"


def _holder_info(what: str) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
            "since": datetime.now(UTC).isoformat(timespec="seconds")}


def _pg_holder(con) -> dict:
    row = con.execute("select info from writer_lock where id = 1").fetchone()
    try:
        return json.loads(row[0]) if row else {}
    except ValueError:
        return {}


@contextmanager
def _pg_lock(what: str, *, wait: bool, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    """The production profile's writer lock: a session advisory lock held by one dedicated connection."""
    from pipeline.store_db import PG_SCHEMA, pg_connect

    con = pg_connect()
    try:
        con.execute("select pg_advisory_lock(hashtext('sukf.ddl'))")
        con.execute(f"create schema if not exists {PG_SCHEMA}")
        con.execute(_PG_HOLDER_DDL)
        con.execute("select pg_advisory_unlock(hashtext('sukf.ddl'))")
        (got,) = con.execute("select pg_try_advisory_lock(hashtext(%s))", (_PG_LOCK_KEY,)).fetchone()
        if not got:
            holder = describe(_pg_holder(con))
            if not wait:
                raise Busy(holder)
            if on_wait:
                on_wait(holder)
            started = time.monotonic()
            con.execute("select pg_advisory_lock(hashtext(%s))", (_PG_LOCK_KEY,))
            log.info("writer lock acquired after waiting %.1f s for %s", time.monotonic() - started, holder)
        previous = _pg_holder(con)
        if previous.get("pid") and previous.get("host") == socket.gethostname() and not pid_alive(int(previous["pid"])):
            log.warning("released a stale writer lock left by %s (the process is gone)", describe(previous))
        con.execute("insert into writer_lock (id, info) values (1, %s) on conflict (id) do update set info = "
                    "excluded.info", (json.dumps(_holder_info(what), ensure_ascii=False),))
        try:
            yield
        finally:
            con.execute("delete from writer_lock where id = 1")
            con.execute("select pg_advisory_unlock(hashtext(%s))", (_PG_LOCK_KEY,))
    finally:
        con.close()
