"""The submission register: one row per received file version (restricted storage; SQLite or Postgres by
profile, see :mod:`pipeline.store_db`)."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.settings import Paths
from pipeline.store_db import Connection, Store, pg_dump_schema

RECEIVED, ACCEPTED, REJECTED = "received", "accepted", "rejected"
STATUS_SV = {RECEIVED: "Mottagen", ACCEPTED: "Godkänd", REJECTED: "Inte godkänd"}  # the words users read

_SCHEMA = """
create table if not exists submissions (
    submission_id text primary key,
    kommunkod     text,
    period        text not null,
    version       integer,
    sha256        text not null,
    original_name text not null,
    size_bytes    integer not null,
    received_at   text not null,
    source        text not null,
    status        text not null default 'received',
    validated_at  text,
    n_rows        integer,
    n_errors      integer,
    n_warnings    integer
);
create index if not exists submissions_by_unit on submissions (period, kommunkod, version);
create table if not exists closed_years (
    year      integer primary key,
    closed_at text not null
);
create table if not exists reports (
    submission_id text primary key,
    report        text not null
);
"""


@dataclass(frozen=True)
class Submission:
    submission_id: str
    kommunkod: str | None
    period: str
    version: int | None
    sha256: str
    original_name: str
    size_bytes: int
    received_at: str
    source: str
    status: str
    validated_at: str | None = None
    n_rows: int | None = None
    n_errors: int | None = None
    n_warnings: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Received:
    """One received file to register (:meth:`Register.add_many`)."""

    kommunkod: str | None
    period: str
    sha256: str
    original_name: str
    size_bytes: int
    source: str


@dataclass(frozen=True)
class Verdict:
    """One validation outcome to record (:meth:`Register.record_validations`)."""

    submission_id: str
    status: str
    n_rows: int
    n_errors: int
    n_warnings: int
    report: str | None = None  # the JSON validation report (``validation.report.render_json``)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RegisterMissing(RuntimeError):
    """The register existed (its marker says so) but the file is gone: never recreate it silently."""


MARKER = ".register-created"
BACKUPS_KEPT = 10


class Register:
    """The register of one installation: ``restricted/register.sqlite`` (embedded profile) or the ``sukf``
    schema of the installation's Postgres (production profile); the same SQL either way."""

    def __init__(self, paths: Paths) -> None:
        self.store = Store(paths.register_db, _SCHEMA, name="submissions")
        marker = paths.register_db.with_name(MARKER)
        existed = self.store.exists()
        if marker.exists() and not existed:
            raise RegisterMissing(
                f"Inlämningsregistret {self.store.describe()} saknas men har funnits (skapat "
                f"{marker.read_text(encoding='utf-8').strip()}). Återställ det från en säkerhetskopia "
                f"({paths.restricted / 'backups'} eller nattens; docs/DEPLOYMENT.md, Återställning) i stället för "
                "att börja om med ett tomt register.")
        self.store.create()
        if not existed or not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(now_iso() + "\n", encoding="utf-8")
        self.paths = paths

    def backup(self) -> Path | None:
        """A consistent copy of the register, keeping the newest few in ``restricted/backups/``: SQLite's
        online backup, or on Postgres a ``pg_dump`` of schema ``sukf`` (register, tokens, sessions) in
        custom format for ``pg_restore``. None (logged) if ``pg_dump`` is not installed on this host."""
        folder = self.paths.backups
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')
        if self.store.dialect == "postgres":
            target = folder / f"register-{stamp}.dump"
            if not pg_dump_schema(target):
                return None
        else:
            target = folder / f"register-{stamp}.sqlite"
            source = sqlite3.connect(self.store.sqlite_path)
            try:
                dest = sqlite3.connect(target)
                try:
                    source.backup(dest)
                finally:
                    dest.close()
            finally:
                source.close()
        for old in sorted(folder.glob("register-*"))[:-BACKUPS_KEPT]:
            old.unlink(missing_ok=True)
        return target

    def integrity(self) -> str:
        return self.store.integrity()

    def _connect(self) -> AbstractContextManager[Connection]:
        return self.store.connect()

    def add(self, *, kommunkod: str | None, period: str, sha256: str, original_name: str,
            size_bytes: int, source: str) -> tuple[Submission, bool]:
        """Register a received file; returns (submission, created).

        Identical bytes for the same municipality x quarter are the same submission (a re-sent
        file or a re-run of the sensor must not create a new version).
        """
        (added,) = self.add_many([Received(kommunkod, period, sha256, original_name, size_bytes, source)])
        return added

    def add_many(self, files: list[Received]) -> list[tuple[Submission, bool]]:
        """:meth:`add` for many files in one transaction, in the given order (versions are assigned in that
        order, exactly as one ``add`` per file would; identical bytes twice in the batch are one submission).

        WHY one transaction: a commit per file of a national drop (290) cost more than the rest of the
        register work together (each commit is a journal write and fsync)."""
        out: list[tuple[Submission, bool]] = []
        with self._connect() as con, con.write_transaction("submissions"):
            for f in files:
                existing = con.execute(
                    "select * from submissions where sha256 = ? and period = ? and kommunkod is not distinct from ?",
                    (f.sha256, f.period, f.kommunkod),
                ).fetchone()
                if existing:
                    out.append((Submission(**dict(existing)), False))
                    continue
                version = None
                if f.kommunkod is not None:
                    (latest,) = con.execute(
                        "select coalesce(max(version), 0) from submissions where period = ? and kommunkod = ?",
                        (f.period, f.kommunkod),
                    ).fetchone()
                    version = latest + 1
                sub = Submission(
                    submission_id=uuid.uuid4().hex[:16], kommunkod=f.kommunkod, period=f.period, version=version,
                    sha256=f.sha256, original_name=f.original_name, size_bytes=f.size_bytes, received_at=now_iso(),
                    source=f.source, status=RECEIVED,
                )
                row = sub.as_dict()
                con.execute(
                    f"insert into submissions ({', '.join(row)}) values ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                )
                out.append((sub, True))
        return out

    def record_validation(self, submission_id: str, *, status: str, n_rows: int, n_errors: int,
                          n_warnings: int) -> Submission:
        (sub,) = self.record_validations([Verdict(submission_id, status, n_rows, n_errors, n_warnings)])
        return sub

    def record_validations(self, verdicts: list[Verdict]) -> list[Submission]:
        """Record many outcomes and their reports in one transaction (one commit, one fsync: a quarter's 290
        files used to pay 290), returning the updated submissions in the same order.

        WHY the reports live here: an outcome and its report are then recorded together or not at all, and a
        national quarter writes no file per report (creating a file costs ≈ 1 ms of CPU on this machine)."""
        if not verdicts:
            return []
        at = now_iso()
        ids = [v.submission_id for v in verdicts]
        with self._connect() as con, con.write_transaction("submissions"):
            for v in verdicts:
                con.execute(
                    "update submissions set status = ?, validated_at = ?, n_rows = ?, n_errors = ?, n_warnings = ?"
                    " where submission_id = ?",
                    (v.status, at, v.n_rows, v.n_errors, v.n_warnings, v.submission_id),
                )
                if v.report is not None:
                    con.execute("insert into reports (submission_id, report) values (?, ?) on conflict (submission_id) "
                                "do update set report = excluded.report", (v.submission_id, v.report))
            rows = con.execute(f"select * from submissions where submission_id in ({', '.join('?' * len(ids))})",
                               ids).fetchall()
        by_id = {r["submission_id"]: Submission(**dict(r)) for r in rows}
        return [by_id[i] for i in ids]

    def report(self, submission_id: str) -> str | None:
        """The submission's JSON validation report (None until it is validated)."""
        with self._connect() as con:
            row = con.execute("select report from reports where submission_id = ?", (submission_id,)).fetchone()
        return row["report"] if row else None

    def get(self, submission_id: str) -> Submission | None:
        with self._connect() as con:
            row = con.execute("select * from submissions where submission_id = ?", (submission_id,)).fetchone()
        return Submission(**dict(row)) if row else None

    def list(self, *, kommunkod: str | None = None, period: str | None = None,
             status: str | None = None) -> list[Submission]:
        clauses, args = [], []
        for column, value in (("kommunkod", kommunkod), ("period", period), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = f"where {' and '.join(clauses)}" if clauses else ""
        with self._connect() as con:
            rows = con.execute(
                f"select * from submissions {where} order by period, kommunkod, version, received_at", args
            ).fetchall()
        return [Submission(**dict(r)) for r in rows]

    def current(self, period: str) -> dict[str, Submission]:
        """Latest *accepted* version per municipality for a quarter.

        A rejected resubmission does not wipe out an earlier accepted version.
        """
        out: dict[str, Submission] = {}
        for sub in self.list(period=period, status=ACCEPTED):
            if sub.kommunkod and (sub.kommunkod not in out or (sub.version or 0) > (out[sub.kommunkod].version or 0)):
                out[sub.kommunkod] = sub
        return out

    def close_year(self, year: int) -> None:
        """The coordinator declares ``year`` final: its values lose the preliminary flag in the next
        vintage. Idempotent; the first closing time is kept."""
        with self._connect() as con:
            con.execute("insert into closed_years (year, closed_at) values (?, ?) on conflict (year) do nothing",
                        (year, now_iso()))

    def closed_years(self) -> set[int]:
        with self._connect() as con:
            return {int(r[0]) for r in con.execute("select year from closed_years").fetchall()}
