"""Accepted cases, the hand-over from Python to dbt: one Parquet file per municipality x quarter.

Two steps, so that every state on disk is consistent after a crash:

* ``validated/<submission_id>.parquet`` — the normalised national columns of one accepted version,
  written (immutable) by validation *before* the register marks the version accepted;
* ``accepted/<YYYYQn>/<kommunkod>.parquet`` — a hard link to the current version's validated file,
  maintained by ``sync_period`` (the ``accepted_cases`` asset): whether the staged file is the
  current version is a question of file identity, and re-running the sync repairs anything missing.

Every version stays in the raw archive. Only national columns are written: local variables never
leave the raw file. dbt reads ``accepted/*/*.parquet`` as a source, so Python never opens the DuckDB
warehouse for writing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipeline.contract.dictionary import NATIONAL_COLUMNS
from pipeline.contract.periods import quarters_of
from pipeline.settings import Paths

EXTRA_COLUMNS = ("submission_id", "version")
COLUMNS = NATIONAL_COLUMNS + EXTRA_COLUMNS
HISTORY_COLUMNS = ("arende_id", "avslutsdatum", "period")
"""What the cross-quarter rules read of earlier quarters (``validation.case_checks.check_history``), and so
what the history cache keeps of each staged case."""


def file_for(paths: Paths, period: str, kommunkod: str) -> Path:
    return paths.accepted / period / f"{kommunkod}.parquet"


@cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process for Parquet I/O (connecting costs ~15 ms a file)."""
    return duckdb.connect()


_LOCK = threading.Lock()


_SELECT = (", ".join(f'cast("{c}" as VARCHAR) as "{c}"' for c in NATIONAL_COLUMNS)
           + ", cast(submission_id as VARCHAR) as submission_id, cast(version as INTEGER) as version")


def _write_parquet(frame: pd.DataFrame, target: Path) -> None:
    """Write via a temp file and rename, so dbt never sees half a file."""
    _write_many(frame, {None: target})


def _write_many(frame: pd.DataFrame, targets: dict[str | None, Path]) -> None:
    """One Parquet file per ``submission_id`` of ``frame`` (``None``: the whole frame), each via a temp
    file and rename, rows in ``arende_id`` order.

    WHY one partitioned ``copy``: a ``copy`` statement per file cost ≈ 5–7 ms CPU (290 of them for a
    national quarter), one ``copy … partition_by (submission_id)`` into a temporary folder writes the
    same rows, columns and types for a fraction of that; each file is then renamed into place. DuckDB keeps
    the order of rows within each partition when it writes with one thread."""
    with _LOCK:
        con = _duckdb()
        con.register("incoming", frame.reindex(columns=list(COLUMNS)).astype(object))
        try:
            if None in targets:
                _copy_to(con, "", targets[None])
                return
            batched = {s: t for s, t in targets.items() if s is not None}
            with_rows = {r[0] for r in con.execute("select distinct cast(submission_id as VARCHAR) from incoming")
                         .fetchall()}
            empty = [batched.pop(s) for s in sorted(set(batched) - with_rows)]  # accepted with zero cases
            if empty:  # a file without rows is the same for every version: written once, copied
                _copy_to(con, "where false", empty[0])
                for target in empty[1:]:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_name(f".{target.name}.tmp")
                    shutil.copyfile(empty[0], tmp)
                    os.replace(tmp, target)
            for parent in sorted({t.parent for t in batched.values()}):
                parent.mkdir(parents=True, exist_ok=True)
                _sweep_batch_folders(parent)
                folder = Path(tempfile.mkdtemp(dir=parent, prefix=BATCH_PREFIX))
                try:
                    con.execute("set threads = 1")
                    try:
                        con.execute(f"copy (select {_SELECT} from incoming order by submission_id, arende_id) to "
                                    f"{_sql_text(str(folder))} (format parquet, partition_by (submission_id), "
                                    "write_partition_columns true)")
                    finally:
                        con.execute("reset threads")
                    for submission_id, target in batched.items():
                        if target.parent == parent:
                            os.replace(folder / f"submission_id={submission_id}" / "data_0.parquet", target)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
        finally:
            con.unregister("incoming")


BATCH_PREFIX = ".batch-"
BATCH_AGE_S = 3600


def _sweep_batch_folders(parent: Path) -> None:
    """Remove partitioned-write folders an interrupted process left (only older ones: another writer's
    may be in flight). They hold nothing a reader uses: files count only once renamed into place."""
    now = time.time()
    for old in parent.glob(f"{BATCH_PREFIX}*"):
        if old.is_dir() and now - old.stat().st_mtime > BATCH_AGE_S:
            shutil.rmtree(old, ignore_errors=True)


def _copy_to(con: duckdb.DuckDBPyConnection, where: str, target: Path) -> None:
    """One ``copy`` of the registered ``incoming`` rows into ``target``, via a temp file and rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    con.execute(f"copy (select {_SELECT} from incoming {where} order by arende_id) to {_sql_text(str(tmp))} "
                "(format parquet)")
    os.replace(tmp, target)


def _sql_text(value: str) -> str:
    """``value`` as an SQL string literal (quotes doubled): ids and paths are written into ``copy`` statements."""
    return "'" + value.replace("'", "''") + "'"


def ensure_schema_file(paths: Paths) -> Path:
    """A zero-row file with the full schema so dbt's glob matches even before the first load."""
    target = paths.accepted / "_schema" / "empty.parquet"
    if not target.exists():
        _write_parquet(pd.DataFrame(columns=list(COLUMNS)), target)
    return target


def validated_file(paths: Paths, submission_id: str) -> Path:
    return paths.validated / f"{submission_id}.parquet"


def write_validated(paths: Paths, *, cases: pd.DataFrame, submission_id: str, version: int) -> Path:
    """The normalised cases of one accepted version (idempotent: same id, same content)."""
    return write_validated_many(paths, [(cases, submission_id, version)])[0]


def write_validated_many(paths: Paths, accepted: list[tuple[pd.DataFrame, str, int]]) -> list[Path]:
    """:func:`write_validated` for a batch of (cases, submission_id, version): the frames are joined and
    cleaned once, then one file per version is written (same bytes as one at a time)."""
    if not accepted:
        return []
    names = list(NATIONAL_COLUMNS)
    frames = [(cases if list(cases.columns) == names else cases.reindex(columns=names)).to_numpy(dtype=object)
              for cases, _, _ in accepted]
    lengths = [len(f) for f in frames]
    cells = np.concatenate(frames) if sum(lengths) else np.empty((0, len(NATIONAL_COLUMNS)), dtype=object)
    cells[pd.isna(cells) | (cells == "")] = None  # blank and missing (None/NaN) cells are NULL in the file
    values = {c: cells[:, j] for j, c in enumerate(NATIONAL_COLUMNS)}
    values["submission_id"] = np.repeat(np.array([s for _, s, _ in accepted], dtype=object), lengths)
    values["version"] = np.repeat(np.array([v for _, _, v in accepted], dtype=object), lengths)
    targets = {submission_id: validated_file(paths, submission_id) for _, submission_id, _ in accepted}
    _write_many(pd.DataFrame(values, columns=list(COLUMNS)), targets)
    return list(targets.values())


def is_staged(paths: Paths, period: str, kommunkod: str, submission_id: str) -> bool:
    staged, source = file_for(paths, period, kommunkod), validated_file(paths, submission_id)
    return staged.exists() and source.exists() and os.path.samefile(staged, source)


def stage(paths: Paths, period: str, kommunkod: str, submission_id: str) -> Path:
    """Point ``accepted/<period>/<kommunkod>.parquet`` at the version's validated file (atomic replace)."""
    target = file_for(paths, period, kommunkod)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(validated_file(paths, submission_id), tmp)
    except OSError:  # no hard links on this filesystem: a copy does the same job
        shutil.copyfile(validated_file(paths, submission_id), tmp)
    os.replace(tmp, target)
    ensure_schema_file(paths)
    return target


def write_accepted(paths: Paths, *, period: str, kommunkod: str, cases: pd.DataFrame, submission_id: str,
                   version: int) -> Path:
    """Validated file + staging in one call (tests and tools that bypass the register)."""
    write_validated(paths, cases=cases, submission_id=submission_id, version=version)
    return stage(paths, period, kommunkod, submission_id)


def unstage(paths: Paths, period: str, kommunkod: str) -> None:
    file_for(paths, period, kommunkod).unlink(missing_ok=True)


def staged_kommuner(paths: Paths, period: str) -> set[str]:
    folder = paths.accepted / period
    return {f.stem for f in folder.glob("*.parquet")} if folder.is_dir() else set()


def _read(files: list[Path]) -> pd.DataFrame:
    if not files:
        return pd.DataFrame(columns=list(COLUMNS))
    listing = ", ".join(_sql_text(str(f)) for f in files)
    with _LOCK:
        return _duckdb().execute(f"select * from read_parquet([{listing}], union_by_name=true)").df()


def read_period(paths: Paths, period: str) -> pd.DataFrame:
    """All accepted cases of one quarter (for national-level checks)."""
    return _read(sorted((paths.accepted / period).glob("*.parquet")))


def history(paths: Paths, kommunkod: str, before_period: str,
            columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """This municipality's accepted cases of every quarter before ``before_period`` (``columns``: only those)."""
    return histories(paths, [(kommunkod, before_period)], columns)[(kommunkod, before_period)]


def histories(paths: Paths, wanted: list[tuple[str, str]],
              columns: tuple[str, ...] | None = None) -> dict[tuple[str, str], pd.DataFrame]:
    """(kommunkod, before_period) -> that municipality's accepted cases of the quarters before, for a
    whole batch in one DuckDB read.

    WHY one read with only the ``columns`` asked for: after 40 quarters a national batch has ≈ 11 600
    staged files behind it; one query per kommun reading every column cost ≈ 15 s CPU, growing with
    history, where one projected read is about half that. WHY whole earlier years from the history
    cache: what was left was opening those files (≈ 0.25 ms each), so the years before the batch's come
    from one file per year (``_year_history``), and only the batch's own year is read file by file."""
    latest: dict[str, str] = {}
    for kommunkod, before in wanted:
        latest[kommunkod] = max(before, latest.get(kommunkod, before))
    names = list(columns or COLUMNS)
    if not latest:
        return {}
    folders = sorted(f for f in paths.accepted.iterdir()
                     if f.is_dir() and not f.name.startswith("_")) if paths.accepted.exists() else []
    first_open_year = min(latest.values())[:4]
    select = ", ".join(f'"{c}"' for c in names)
    frames = []
    with _LOCK:  # one DuckDB connection per process, shared by the upload service's threads
        cached = {year: table for year in sorted({f.name[:4] for f in folders if f.name[:4] < first_open_year})
                  if (table := _year_history(paths, year, names)) is not None}
        files = [f for folder in folders if folder.name[:4] not in cached
                 for k, before in sorted(latest.items()) if folder.name < before
                 for f in [folder / f"{k}.parquet"] if f.is_file()]
        if cached:
            listing = ", ".join(_sql_text(str(t)) for t in cached.values())
            frames.append(_duckdb().execute(f"select {select}, _period, _kommun from read_parquet([{listing}])").df())
        if files:
            frames.append(_read_staged(files, select))
    if not frames:
        frame = pd.DataFrame(columns=[*names, "_period", "_kommun"])
    elif len(frames) == 1:
        frame = frames[0]
    else:  # quarter by quarter again (a year without a cache may be older than one with): the files' order
        frame = pd.concat(frames, ignore_index=True)
        frame = frame.iloc[np.argsort(frame["_period"].to_numpy(dtype=object), kind="stable")]
    return _split_by_kommun(frame, wanted, names)


def _read_staged(files: list[Path], select: str) -> pd.DataFrame:
    """``select`` of staged files with each row's ``_period`` and ``_kommun`` (from the path), in file order."""
    listing = ", ".join(_sql_text(str(f)) for f in files)

    def query(options: str) -> str:
        return (f"select {select}, parse_filename(parse_dirpath(filename), true) as _period, "
                f"parse_filename(filename, true) as _kommun from read_parquet([{listing}], filename=true{options})")

    try:  # every file has the one schema the stager writes: no per-file schema union (≈ 30 % of the read)
        return _duckdb().execute(query("")).df()
    except duckdb.Error:  # a file from an older schema: match columns by name
        return _duckdb().execute(query(", union_by_name=true")).df()


def _year_history(paths: Paths, year: str, names: list[str]) -> Path | None:
    """The history cache of ``year`` (every staged file of its quarters, in file order, with ``_period`` and
    ``_kommun``), rebuilt first when a staged file of the year is added, replaced or removed; None when the
    year has no staged files or ``names`` are not all cached.

    WHY it stays right: its fingerprint is every staged file's name, inode, size and mtime (staging
    replaces a file by linking a new version into place, so any change shows), taken before the read
    and checked again after it; a cache whose fingerprint differs from the files' is never read. Called
    under ``_LOCK``."""
    if not set(names) <= set(HISTORY_COLUMNS):
        return None
    files = sorted(f for q in quarters_of(year) for f in (paths.accepted / q).glob("*.parquet"))
    if not files:
        return None
    target = paths.history_cache / f"{year}.parquet"
    stamp = target.with_suffix(".fingerprint")
    before = _fingerprint(files)
    if target.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == before:
        return target
    paths.history_cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    select = ", ".join(f'"{c}"' for c in HISTORY_COLUMNS)
    frame = _read_staged(files, select)
    if _fingerprint(files) != before:
        return None  # changed while read (another writer): read file by file this time
    _duckdb().from_df(frame).write_parquet(str(tmp))
    stamp_tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    stamp_tmp.write_text(before, encoding="utf-8")
    os.replace(tmp, target)
    os.replace(stamp_tmp, stamp)
    return target


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        st = f.stat()
        digest.update(f"{f.parent.name}/{f.name} {st.st_ino} {st.st_size} {st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _split_by_kommun(frame: pd.DataFrame, wanted: list[tuple[str, str]],
                     names: list[str]) -> dict[tuple[str, str], pd.DataFrame]:
    """Each (kommunkod, before_period)'s rows of ``frame`` (``_kommun``, ``_period`` columns), in read order.

    One stable sort by kommun and a slice per municipality: a groupby, mask, drop and re-index per
    municipality cost ≈ 1 ms each, a third of a second for a national batch even with no history."""
    kommun = frame["_kommun"].to_numpy(dtype=object)
    period = frame["_period"].to_numpy(dtype=object)
    order = np.argsort(kommun, kind="stable")
    kommun, period = kommun[order], period[order]
    rows = frame[names].iloc[order].reset_index(drop=True)
    out: dict[tuple[str, str], pd.DataFrame] = {}
    for kommunkod, before in wanted:
        a, b = np.searchsorted(kommun, kommunkod, "left"), np.searchsorted(kommun, kommunkod, "right")
        part = rows.iloc[a:b]
        earlier = period[a:b] < before
        if not earlier.all():
            part = part[earlier]
        out[(kommunkod, before)] = part.reset_index(drop=True)
    return out


def own_quarters(paths: Paths, kommunkod: str) -> dict[str, pd.DataFrame]:
    """Every staged quarter of one municipality, oldest first (its own feedback reads these)."""
    if not paths.accepted.exists():
        return {}
    out = {}
    for folder in sorted(f for f in paths.accepted.iterdir() if f.is_dir() and not f.name.startswith("_")):
        file = file_for(paths, folder.name, kommunkod)
        if file.is_file():
            out[folder.name] = _read([file])
    return out


def read_own(paths: Paths, period: str, kommunkod: str) -> pd.DataFrame | None:
    """One municipality's staged cases of one quarter, or None when it has no accepted file."""
    file = file_for(paths, period, kommunkod)
    return _read([file]) if file.is_file() else None
