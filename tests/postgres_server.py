"""A real, throw-away Postgres cluster for the production-profile tests (Debian's ``postgresql`` binaries).

``initdb`` into a temp folder, ``pg_ctl start`` on a free loopback port with its unix socket in that folder,
trust authentication for role ``sukf``; stopped and removed at the end. Postgres refuses to run as root, so
as root (CI) the cluster belongs to the ``postgres`` system user (``runuser``). Where no binaries exist the
tests skip, saying why, unless ``SUKF_REQUIRE_POSTGRES=1`` (set by ``.ci/run``): then they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def find_bin() -> Path | None:
    """The folder holding initdb/pg_ctl/postgres/pg_dump: ``SUKF_PG_BIN``, Debian's versioned folder, or PATH."""
    candidates = [os.environ.get("SUKF_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    initdb = shutil.which("initdb")
    candidates += [str(Path(initdb).resolve().parent)] if initdb else []
    for folder in candidates:
        if folder and all((Path(folder) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres", "pg_dump")):
            return Path(folder)
    return None


@dataclass
class PostgresServer:
    bin: Path
    port: int
    folder: Path
    user: str | None  # the OS user that runs the server (None: the current one)

    def url(self, database: str) -> str:
        return f"postgresql://sukf@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "sukf") -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            con.execute(f'create database "{name}"')
        return self.url(name)

    def env(self, database_url: str) -> dict[str, str]:
        """Environment of a production-profile process against ``database_url``."""
        return {"SUKF_PROFILE": "production", "SUKF_DATABASE_URL": database_url, "SUKF_PG_BIN": str(self.bin)}


def _as(user: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else argv


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def cluster() -> Iterator[PostgresServer]:
    """``with cluster() as server:`` a running cluster, stopped and removed when the block ends (tests, benchmarks)."""
    bin_dir = find_bin()
    if bin_dir is None:
        message = "no PostgreSQL server binaries (apt-get install postgresql; .ci/run does)"
        if os.environ.get("SUKF_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " but SUKF_REQUIRE_POSTGRES=1")
        pytest.skip(message)
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="sukf-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data = folder / "data"
    subprocess.run(_as(user, [str(bin_dir / "initdb"), "-D", str(data), "-U", "sukf", "--auth=trust",
                              "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]),
                   check=True, capture_output=True, timeout=120)
    port = _free_port()
    options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
               "-c max_connections=100 -c shared_buffers=32MB")
    subprocess.run(_as(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
                              "-t", "60", "-o", options, "start"]), check=True, capture_output=True, timeout=90)
    try:
        yield PostgresServer(bin_dir, port, folder, user)
    finally:
        subprocess.run(_as(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One cluster for the whole session; each test makes its own database with ``create_database``."""
    with cluster() as server:
        yield server
