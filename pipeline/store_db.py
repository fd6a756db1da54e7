"""The small restricted stores (submission register, upload tokens, portal sessions): SQLite or Postgres.

WHY two engines behind one thin layer: the embedded profile (the default) keeps each store in a SQLite
file under ``restricted/`` so one machine needs no server; the production profile
(``SUKF_PROFILE=production``) keeps them in schema ``sukf`` of the installation's Postgres
(``SUKF_DATABASE_URL``), so several upload replicas, coordinators and the Dagster daemon on several hosts
share one register. The stores write their SQL once (``?`` placeholders, ``on conflict``, ``is not distinct
from``, which both engines speak); this module only translates placeholders, opens connections with the
right settings and names the few things that differ (exclusive write transaction, insertion order,
integrity check, existence).

Why not the DuckDB warehouse: the upload service, the sensor and runs write these concurrently, while only
dbt may hold the DuckDB file for writing.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline import settings

PG_SCHEMA = "sukf"
"""Postgres schema of our tables; Dagster's own tables stay in the database's default schema, so a
``pg_dump --schema=sukf`` is exactly the restricted store (register, tokens, sessions)."""


class Row(tuple):
    """A result row readable by position and by column name (like ``sqlite3.Row``), for both engines."""

    names: tuple[str, ...] = ()

    def __new__(cls, names: Sequence[str], values: Sequence[Any]) -> Row:
        row = super().__new__(cls, values)
        row.names = tuple(names)
        return row

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return self.names


class Connection:
    """One connection of either engine with the same ``execute`` (``?`` placeholders) and transactions."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    @property
    def insertion_order(self) -> str:
        """The column that orders rows as they were inserted (SQLite's rowid; a ``seq`` column on Postgres)."""
        return "rowid" if self.dialect == "sqlite" else "seq"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == "sqlite":
            cur = self.raw.execute(sql, tuple(params))
        else:
            cur = self.raw.execute(_pg_placeholders(sql), tuple(params))
        return _Cursor(cur, self.dialect)

    def executescript(self, script: str) -> None:
        if self.dialect == "sqlite":
            self.raw.executescript(script)
        else:
            for statement in (s.strip() for s in script.split(";")):
                if statement:
                    self.raw.execute(statement)

    @contextmanager
    def write_transaction(self, name: str) -> Iterator[Connection]:
        """A read-modify-write that no other writer of ``name`` interleaves with: SQLite's ``begin immediate``
        (the file's write lock), on Postgres a transaction holding an advisory lock on ``name``."""
        if self.dialect == "sqlite":
            self.raw.execute("begin immediate")
        else:
            self.raw.execute("begin")
            self.raw.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"sukf.{name}",))
        try:
            yield self
        except BaseException:
            self.raw.execute("rollback")
            raise
        self.raw.execute("commit")


class _Cursor:
    def __init__(self, cur: Any, dialect: str) -> None:
        self.cur = cur
        self.dialect = dialect

    @property
    def rowcount(self) -> int:
        return self.cur.rowcount

    def _row(self, values: Any) -> Row:
        return Row([d[0] for d in self.cur.description], values)

    def fetchone(self) -> Row | None:
        values = self.cur.fetchone()
        return None if values is None else self._row(values)

    def fetchall(self) -> list[Row]:
        if self.cur.description is None:
            return []
        return [self._row(v) for v in self.cur.fetchall()]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


_QMARK = re.compile(r"\?")


def _pg_placeholders(sql: str) -> str:
    return _QMARK.sub("%s", sql.replace("%", "%%"))


def libpq_url(url: str) -> str:
    """``postgresql+psycopg2://…`` (SQLAlchemy's spelling, which Dagster also accepts) → ``postgresql://…``."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def pg_connect(url: str | None = None, *, schema: bool = True) -> Any:
    """An autocommit psycopg connection to the installation's Postgres, our schema first on the search path."""
    import psycopg

    options = f"-c search_path={PG_SCHEMA},public" if schema else ""
    return psycopg.connect(libpq_url(url or settings.database_url()), autocommit=True, options=options,
                           application_name="sukf",
                           connect_timeout=10, keepalives=1, keepalives_idle=30)


_SEEN: set[tuple[str, str]] = set()
"""(database URL, table) pairs this process has created or seen: on Postgres a store is constructed per request
(upload service, portal), and its existence check + DDL need not cost two more round-trips each time."""


class Store:
    """One small store: ``sqlite_path`` in the embedded profile, the tables of ``schema`` in Postgres schema
    ``sukf`` in the production profile. ``schema`` is portable DDL; ``{insertion_order}`` in it becomes the
    column that keeps insertion order on Postgres (nothing on SQLite, which has rowid)."""

    def __init__(self, sqlite_path: Path, schema: str, *, name: str) -> None:
        self.sqlite_path = sqlite_path
        self.name = name
        self.dialect = "postgres" if settings.production() else "sqlite"
        self.url = settings.database_url() if self.dialect == "postgres" else None
        self.schema = schema

    def exists(self) -> bool:
        """Whether the store has been created before (file or table ``name``), without creating it."""
        if self.dialect == "sqlite":
            return self.sqlite_path.exists()
        if (self.url, self.name) in _SEEN:
            return True
        with self.connect() as con:
            row = con.execute("select to_regclass(?) is not null as present", (f"{PG_SCHEMA}.{self.name}",)).fetchone()
            return bool(row["present"])

    def create(self) -> Store:
        """Create the folder / schema and tables once (idempotent, safe when several processes start at once)."""
        if self.dialect == "sqlite":
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            with self.connect() as con:
                con.executescript(self.schema.format(insertion_order=""))
            return self
        if (self.url, self.name) in _SEEN:
            return self
        with self.connect() as con:
            con.raw.execute("begin")
            con.raw.execute("select pg_advisory_xact_lock(hashtext('sukf.ddl'))")
            con.raw.execute(f"create schema if not exists {PG_SCHEMA}")
            con.executescript(self.schema.format(insertion_order="seq bigserial,"))
            con.raw.execute("commit")
        _SEEN.add((self.url or "", self.name))
        return self

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Autocommit connection (``write_transaction`` where a read-modify-write needs it). SQLite: WAL so
        readers never block the writer, full fsync so a receipt never outlives its row. Postgres: its own
        durability (synchronous commit)."""
        if self.dialect == "sqlite":
            raw = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)
            raw.execute("pragma journal_mode=wal")
            raw.execute("pragma synchronous=full")
        else:
            raw = pg_connect(self.url)
        try:
            yield Connection(raw, self.dialect)
        finally:
            raw.close()

    def integrity(self) -> str:
        """``"ok"`` or what is wrong: SQLite's ``integrity_check``; on Postgres that our tables are readable
        (the server checks its own pages; run ``amcheck`` as its operator)."""
        if self.dialect == "sqlite":
            raw = sqlite3.connect(self.sqlite_path)
            try:
                return str(raw.execute("pragma integrity_check").fetchone()[0])
            finally:
                raw.close()
        with self.connect() as con:
            con.execute(f"select count(*) from {self.name}").fetchone()
        return "ok"

    def describe(self) -> str:
        """Where the store lives, for messages (never the password)."""
        if self.dialect == "sqlite":
            return str(self.sqlite_path)
        return f"{settings.redacted_url(self.url or '')} (schema {PG_SCHEMA}, tabell {self.name})"


def pg_tool(name: str) -> str | None:
    """``pg_dump``/``pg_restore``/``psql`` from ``SUKF_PG_BIN`` (a folder) or PATH; match the server's major version."""
    import os
    import shutil

    folder = os.environ.get("SUKF_PG_BIN")
    if folder and (Path(folder) / name).exists():
        return str(Path(folder) / name)
    return shutil.which(name)


def pg_dump_schema(target: Path, url: str | None = None) -> bool:
    """``pg_dump`` of schema ``sukf`` (register, tokens, sessions) in custom format; False if pg_dump is missing.

    Restore into an empty database with ``pg_restore --dbname=URL FILE`` (docs/DEPLOYMENT.md)."""
    import logging
    import subprocess

    tool = pg_tool("pg_dump")
    if tool is None:
        logging.getLogger(__name__).warning("pg_dump saknas: ingen säkerhetskopia av registret före laddningen")
        return False
    tmp = target.with_name(f".{target.name}.tmp")
    subprocess.run([tool, f"--dbname={libpq_url(url or settings.database_url())}", f"--schema={PG_SCHEMA}",
                    "--format=custom", f"--file={tmp}"], check=True, capture_output=True, timeout=600)
    tmp.replace(target)
    return True
