"""Atomic, immutable publication of a release: ``releases/<period>/<version>/`` + ``releases/index.json``.

WHY this shape:
* Immutable: a version folder is never rewritten; a revised figure gets a new version, so anything
  a consumer has downloaded stays verifiable against its manifest.
* Atomic: the release is built in ``releases/.tmp-*``, fsynced, then renamed into place in one
  step, and only then listed in ``index.json`` (written to a temp file and ``os.replace``d). A crash
  at any point leaves either the old state or the complete new release — never half a release.
* Idempotent: if the data files equal the latest release of the same period, nothing is written
  and that release is returned (``changed=False``), so re-running a load is harmless.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.contract.periods import Quarter
from pipeline.keyfigures.disclosure import suppression_summary
from pipeline.release import kolada, notes
from pipeline.release.manifest import build_manifest
from pipeline.settings import Paths

DATA_FILES = ("kpi.json", "municipality.json", "data_year.json", "data_quarter.json",
              "data_year.csv", "data_quarter.csv")
"""Files whose bytes decide whether a release changed (no timestamps inside)."""
MANIFEST, NOTES, INDEX = "manifest.json", "RELEASE_NOTES.md", "index.json"
_VERSION = re.compile(r"^v(\d{3,})$")


@dataclass(frozen=True)
class ReleaseResult:
    path: Path
    version: str
    changed: bool


# ---------------------------------------------------------------- reading releases (also for the API)

def list_releases(paths: Paths) -> list[dict[str, str]]:
    """Entries of ``releases/index.json``, oldest first: {"period", "version", "path", "created"}."""
    index = paths.releases / INDEX
    if not index.exists():
        return []
    return list(json.loads(index.read_text(encoding="utf-8")).get("releases", []))


def latest_release(paths: Paths, period: str | None = None) -> Path | None:
    """Folder of the newest listed release (of ``period`` if given), or None."""
    entries = [e for e in list_releases(paths) if period is None or e["period"] == period]
    return paths.releases / entries[-1]["path"] if entries else None


# ---------------------------------------------------------------- low-level durable writes

def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def _lock(paths: Paths) -> Iterator[None]:
    """One publisher at a time per installation (the load job and a manual run must not race)."""
    paths.releases.mkdir(parents=True, exist_ok=True)
    with open(paths.releases / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _next_version(period_dir: Path) -> str:
    """One more than the highest version folder on disk (not the index: a folder is never reused)."""
    numbers = [int(m.group(1)) for p in period_dir.iterdir() if (m := _VERSION.match(p.name))] \
        if period_dir.exists() else []
    return f"v{max(numbers, default=0) + 1:03d}"


def _write_index(paths: Paths, entries: list[dict[str, str]]) -> None:
    tmp = paths.releases / f".index-{uuid.uuid4().hex}.tmp"
    try:
        _write_file(tmp, (json.dumps({"releases": entries}, ensure_ascii=False, indent=2) + "\n").encode())
        os.replace(tmp, paths.releases / INDEX)
        _fsync_dir(paths.releases)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- building and publishing

def build_data_files(figures: pd.DataFrame, *, period: str, publication_date: str,
                     preliminary_years: set[int] | None = None) -> tuple[dict[str, bytes], dict[int, str]]:
    """The deterministic files of a release, and the per-year status."""
    rows = kolada.release_rows(figures, period)
    years = {int(str(p)[:4]) for p in rows["period"].unique()}
    status = kolada.year_status(years | {Quarter.parse(period).year}, period, preliminary_years)
    release_year_prel = status[Quarter.parse(period).year] == "preliminary"
    files = {
        "kpi.json": kolada.dumps(kolada.kpi_document(publ_period=period, publication_date=publication_date,
                                                     preliminary=release_year_prel)),
        "municipality.json": kolada.dumps(kolada.municipality_document()),
        "data_year.json": kolada.dumps(kolada.data_document(rows, "year")),
        "data_quarter.json": kolada.dumps(kolada.data_document(rows, "quarter")),
        "data_year.csv": kolada.csv_bytes(rows, "year", status),
        "data_quarter.csv": kolada.csv_bytes(rows, "quarter", status),
    }
    return files, status


def _same_as(folder: Path | None, files: dict[str, bytes]) -> bool:
    if folder is None or not folder.is_dir():
        return False
    return all((folder / name).is_file() and (folder / name).read_bytes() == data for name, data in files.items())


def publish_release(figures: pd.DataFrame, *, period: str, paths: Paths, submissions: list[dict[str, Any]],
                    preliminary_years: set[int] | None = None, now: datetime | None = None) -> ReleaseResult:
    """Publish ``figures`` (output of ``apply_disclosure``) as the next version of ``period``."""
    period = str(Quarter.parse(period))
    now = now or datetime.now(UTC)
    with _lock(paths):
        entries = list_releases(paths)
        same_period = [e for e in entries if e["period"] == period]
        # kpi.json carries the period's first publication date, so a re-run stays byte-identical.
        first_date = same_period[0]["created"][:10] if same_period else now.date().isoformat()
        files, years = build_data_files(figures, period=period, publication_date=first_date,
                                        preliminary_years=preliminary_years)
        latest_same = latest_release(paths, period)
        if _same_as(latest_same, files):
            return ReleaseResult(latest_same, latest_same.name, changed=False)

        previous = entries[-1] if entries else None
        old_cells = {}
        if previous:
            prev_dir = paths.releases / previous["path"]
            old_cells = notes.read_cells(*((prev_dir / n).read_bytes() for n in ("data_year.csv", "data_quarter.csv")
                                           if (prev_dir / n).exists()))
        changes = notes.compare(old_cells, notes.read_cells(files["data_year.csv"], files["data_quarter.csv"]))
        period_dir = paths.releases / period
        version = _next_version(period_dir)
        summary = suppression_summary(kolada.release_rows(figures, period))
        files[NOTES] = notes.render(
            period=period, version=version, created=now.isoformat(timespec="seconds"),
            previous=f"{previous['period']} {previous['version']}" if previous else None,
            changes=changes, suppression=summary, years=years).encode("utf-8")
        prev_ref = {"period": previous["period"], "version": previous["version"]} if previous else None
        manifest = build_manifest(files=files, period=period, version=version, created=now,
                                  submissions=submissions, years=years, previous=prev_ref)
        files[MANIFEST] = (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()

        final = period_dir / version
        tmp = paths.releases / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            for name in sorted(files):
                _write_file(tmp / name, files[name])
            _fsync_dir(tmp)
            period_dir.mkdir(exist_ok=True)
            _fsync_dir(paths.releases)
            if final.exists():  # immutability: never overwrite (rename would also refuse a non-empty dir)
                raise FileExistsError(f"Publiceringen {period}/{version} finns redan och får inte skrivas över.")
            os.rename(tmp, final)
            _fsync_dir(period_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        entry = {"period": period, "version": version, "path": f"{period}/{version}",
                 "created": now.isoformat(timespec="seconds")}
        try:
            _write_index(paths, [*entries, entry])
        except BaseException:
            # Not yet announced: take the folder back out so the visible state is exactly the old one.
            hidden = paths.releases / f".tmp-{uuid.uuid4().hex}"
            os.rename(final, hidden)
            shutil.rmtree(hidden, ignore_errors=True)
            raise
        return ReleaseResult(final, version, changed=True)
