"""The production profile's stores on a real Postgres: register, tokens, sessions, writer lock, Dagster instance.

The same classes the embedded profile uses (one code path); only SUKF_PROFILE and SUKF_DATABASE_URL differ.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline.raw.register import ACCEPTED, Register, RegisterMissing
from pipeline.settings import Paths


@pytest.fixture
def prod(postgres_server, tmp_path, monkeypatch) -> Paths:
    """A production-profile installation: fresh data folder, fresh database."""
    url = postgres_server.create_database()
    for key, value in postgres_server.env(url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path / "data"))
    return Paths(tmp_path / "data").ensure()


def _tables(schema: str) -> set[str]:
    from pipeline.store_db import pg_connect

    with pg_connect() as con:
        rows = con.execute("select table_name from information_schema.tables where table_schema = %s", (schema,))
        return {r[0] for r in rows.fetchall()}


def test_register_lives_in_postgres_with_the_same_behaviour(prod):
    register = Register(prod)
    sub, created = register.add(kommunkod="0114", period="2025Q3", sha256="a" * 64, original_name="f.csv",
                                size_bytes=10, source="upload")
    again, created_again = register.add(kommunkod="0114", period="2025Q3", sha256="a" * 64, original_name="g.csv",
                                        size_bytes=10, source="landing")
    assert created and not created_again and again == sub
    second, _ = register.add(kommunkod="0114", period="2025Q3", sha256="b" * 64, original_name="f.csv",
                             size_bytes=11, source="upload")
    orphan, _ = register.add(kommunkod=None, period="2025Q3", sha256="c" * 64, original_name="x", size_bytes=1,
                             source="landing")
    assert (sub.version, second.version, orphan.version) == (1, 2, None)
    assert register.add(kommunkod=None, period="2025Q3", sha256="c" * 64, original_name="x", size_bytes=1,
                        source="landing")[1] is False  # "kommunkod is not distinct from NULL" on both engines
    register.record_validation(sub.submission_id, status=ACCEPTED, n_rows=5, n_errors=0, n_warnings=1)
    assert register.current("2025Q3")["0114"].submission_id == sub.submission_id
    register.close_year(2025)
    register.close_year(2025)
    assert register.closed_years() == {2025}
    assert register.integrity() == "ok"
    assert not prod.register_db.exists(), "production keeps no SQLite register"
    assert {"submissions", "closed_years"} <= _tables("sukf")


def test_concurrent_adds_get_distinct_versions(prod):
    """The read-modify-write of a version number is serialised (advisory transaction lock)."""
    Register(prod)

    def add(i: int):
        return Register(prod).add(kommunkod="0180", period="2025Q1", sha256=f"{i:064d}", original_name="f",
                                  size_bytes=1, source="upload")[0].version

    with ThreadPoolExecutor(8) as pool:
        versions = sorted(pool.map(add, range(16)))
    assert versions == list(range(1, 17))


def test_lost_database_is_never_recreated_silently(prod, postgres_server, monkeypatch):
    Register(prod)
    monkeypatch.setenv("SUKF_DATABASE_URL", postgres_server.create_database())  # e.g. a wrong or wiped database
    with pytest.raises(RegisterMissing, match="saknas men har funnits"):
        Register(prod)


def test_tokens_and_sessions_in_postgres(prod):
    from pipeline.services.sessions import SessionStore
    from pipeline.services.tokens import TokenStore

    store = TokenStore(prod)
    info, token = store.issue("0114", "a")
    other, _ = store.issue("0180", "b")
    assert store.verify(token).kommunkod == "0114" and store.verify(token + "x") is None
    assert store.revoke(info.token_id) and store.verify(token) is None
    assert [(t.token_id, t.active) for t in store.list()] == [(info.token_id, False), (other.token_id, True)]
    sessions = SessionStore(prod)
    cookie = sessions.start(store.list()[1])
    session = sessions.resolve(cookie)
    assert session is not None and session.kommunkod == "0180"
    sessions.end(session)
    assert sessions.resolve(cookie) is None
    assert {"tokens", "sessions"} <= _tables("sukf")


def test_backup_is_a_pg_dump_that_restores(prod, postgres_server, monkeypatch):
    register = Register(prod)
    register.add(kommunkod="0114", period="2025Q3", sha256="d" * 64, original_name="f", size_bytes=1, source="upload")
    dump = register.backup()
    assert dump is not None and dump.suffix == ".dump" and dump.stat().st_size > 0
    fresh = postgres_server.create_database()
    subprocess.run([str(postgres_server.bin / "pg_restore"), f"--dbname={fresh}", "--no-owner", str(dump)],
                   check=True, capture_output=True)
    monkeypatch.setenv("SUKF_DATABASE_URL", fresh)
    assert [s.sha256 for s in Register(prod).list()] == ["d" * 64]


_HOLD = """
import sys, time
from pipeline.settings import paths
from pipeline.writer_lock import writer_lock
with writer_lock(paths(), sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(what: str, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, what, str(seconds)], stdout=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_writer_lock_is_a_postgres_advisory_lock(prod):
    from pipeline.writer_lock import Busy, writer_lock

    holder = _holder("sukf load 2025Q3", 60)
    try:
        assert not (prod.restricted / "writer.lock").exists(), "production uses no lock file"
        with pytest.raises(Busy, match=r"sukf load 2025Q3 \(pid \d+ på"), writer_lock(prod, "test", wait=False):
            pass
        holder.send_signal(signal.SIGKILL)  # a killed holder's connection ends: the server frees the lock
        holder.wait(10)
        told: list[str] = []
        started = time.monotonic()
        with writer_lock(prod, "test", on_wait=told.append):
            with writer_lock(prod, "re-entrant"):
                pass
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait(10)


def test_waiting_writer_is_told_who_holds_it(prod):
    from pipeline.writer_lock import writer_lock

    holder = _holder("sukf doctor", 1.5)
    told: list[str] = []
    with writer_lock(prod, "test", on_wait=told.append):
        from pipeline.store_db import pg_connect

        with pg_connect() as con:
            (info,) = con.execute("select info from writer_lock where id = 1").fetchone()
        assert '"what": "test"' in info, "acquired only after the holder let go"
    holder.wait(10)
    assert len(told) == 1 and told[0].startswith("sukf doctor (pid ")


def test_dagster_instance_on_postgres(prod, tmp_path, monkeypatch):
    import dagster as dg

    from pipeline.defs.load import INSTANCE_YAML, dagster_home

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    home = dagster_home()
    text = (home / "dagster.yaml").read_text(encoding="utf-8")
    assert "postgres_url" in text and prod.root.name not in text and "env: SUKF_DATABASE_URL" in text
    instance = dg.DagsterInstance.get()
    try:
        names = {type(instance.run_storage).__name__, type(instance.event_log_storage).__name__,
                 type(instance.schedule_storage).__name__, type(instance.run_coordinator).__name__}
        assert names == {"PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage",
                         "QueuedRunCoordinator"}
    finally:
        instance.dispose()
    assert {"runs", "event_logs", "jobs"} <= _tables("public")
    monkeypatch.setenv("SUKF_PROFILE", "embedded")  # the profile switches the file sukf wrote
    dagster_home()
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == INSTANCE_YAML
