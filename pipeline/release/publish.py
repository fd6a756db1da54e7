"""Vintages of the national dataset: immutable, globally numbered, sharing unchanged files.

WHY this shape (issue 8):
* One national dataset. A vintage holds every period with accepted data as of its creation, so
  re-running an old quarter can never make the public view lose later quarters; "current" is
  simply the newest vintage.
* A new vintage exists if and only if some published value changed (value, status or preliminary
  flag). A re-run with unchanged inputs publishes nothing.
* Immutable and verifiable: a vintage folder is never rewritten; ``manifest.json`` gives the sha256
  of every file, the submissions behind it and why it was made.
* Storage grows with changes, not with history: each period's data lives in a content-addressed
  object (``objects/<aa>/<sha256>.<ext>``) that vintages hard-link, so a quarter that did not change
  costs nothing in the next vintage.
* Atomic: a vintage is built in ``releases/.tmp-*``, fsynced, renamed into place, and only then
  listed in ``index.json`` (temp file + ``os.replace``). Folders that were never listed (a crash
  between rename and index) and stale temp folders are removed by the next publisher, so the
  version number converges to what an uninterrupted run gives.

Layout::

    releases/
      index.json                  {"vintages": [{"vintage", "path", "created", "reason"}, ...]} oldest first
      objects/<aa>/<sha256>.json  Kolada v3 data document of one period
      objects/<aa>/<sha256>.csv   the same values as CSV
      v001/ manifest.json RELEASE_NOTES.md changes.csv kpi.json municipality.json
            data/<period>.json data/<period>.csv     (hard links to objects)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import faults
from pipeline.contract.periods import PERIOD_PATTERN
from pipeline.release import kolada, notes, sdmx
from pipeline.release.manifest import build_manifest
from pipeline.settings import Paths

log = logging.getLogger(__name__)

INDEX, MANIFEST, NOTES, CHANGES = "index.json", "manifest.json", "RELEASE_NOTES.md", "changes.csv"
KPI_FILE, MUNICIPALITY_FILE = "kpi.json", "municipality.json"
DATA_DIR, OBJECTS_DIR = "data", "objects"
PERIOD_EXTENSIONS = ("json", "csv", "sdmx.csv")  # Kolada JSON, Kolada-style CSV, SDMX-CSV 2.0
STRUCTURE_FILE = f"{DATA_DIR}/structure.sdmx.xml"  # the SDMX data structure definition
VINTAGE = re.compile(r"^v(\d{3,})$")
PERIOD_FILE = re.compile(rf"^({PERIOD_PATTERN})\.(json|csv)$")


def vintage_name(number: int) -> str:
    return f"v{number:03d}"


def data_file(period: str, ext: str) -> str:
    """Path of one period's file inside a vintage folder: ``data/2025Q3.csv``."""
    return f"{DATA_DIR}/{period}.{ext}"


def vintage_files(periods: list[str]) -> set[str]:
    """Every file a vintage holding ``periods`` has (the manifest included): what the publisher writes."""
    return {MANIFEST, NOTES, CHANGES, KPI_FILE, MUNICIPALITY_FILE, STRUCTURE_FILE,
            *(data_file(p, ext) for p in periods for ext in PERIOD_EXTENSIONS)}


def release_files(manifest: dict[str, Any]) -> list[str]:
    """Every file of a vintage (relative paths), from its manifest: the one list API, client and tests use."""
    return sorted([*manifest.get("files", {}), MANIFEST])


@dataclass(frozen=True)
class VintageResult:
    path: Path | None
    vintage: str | None
    changed: bool
    changes: notes.Changes | None = None


# ---------------------------------------------------------------- reading vintages (API, cells, notes)

def list_vintages(paths: Paths) -> list[dict[str, Any]]:
    """Entries of ``releases/index.json``, oldest first."""
    index = paths.releases / INDEX
    if not index.exists():
        return []
    return [e for e in json.loads(index.read_text(encoding="utf-8")).get("vintages", [])
            if VINTAGE.match(str(e.get("vintage", "")))]


def current_vintage(paths: Paths) -> Path | None:
    entries = list_vintages(paths)
    return paths.releases / entries[-1]["path"] if entries else None


def created_by(entries: list[dict[str, Any]], as_of: str) -> list[dict[str, Any]]:
    """The index entries created at or before ``as_of`` (a date means the end of that day, UTC); the one
    rule for "as of" shared by the API and ``sukf pull``."""
    limit = datetime.fromisoformat(as_of if "T" in as_of else f"{as_of}T23:59:59+00:00")
    if limit.tzinfo is None:
        limit = limit.replace(tzinfo=UTC)
    return [e for e in entries if datetime.fromisoformat(e["created"]) <= limit]


def resolve(paths: Paths, release: str | None = None, as_of: str | None = None) -> dict[str, Any] | None:
    """The index entry for ``release`` (``vNNN``), else the newest created at or before ``as_of``
    (a date means the end of that day, UTC), else the current one. None when there is none."""
    entries = list_vintages(paths)
    if release and release != "latest":
        return next((e for e in entries if e["vintage"] == release), None)
    if as_of:
        entries = created_by(entries, as_of)
    return entries[-1] if entries else None


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


def period_csvs(folder: Path, years: Collection[str] | None = None) -> dict[str, bytes]:
    """period -> CSV bytes of a vintage folder (only the periods of ``years`` when given)."""
    data = folder / DATA_DIR
    out = {}
    for file in sorted(data.iterdir()) if data.is_dir() else []:
        match = PERIOD_FILE.match(file.name)
        if match and match.group(2) == "csv" and (years is None or match.group(1)[:4] in years):
            out[match.group(1)] = file.read_bytes()
    return out


def file_period(name: str) -> str | None:
    """The period of a vintage's period file (``data/2025Q3.sdmx.csv`` → ``2025Q3``), else None."""
    if not name.startswith(f"{DATA_DIR}/"):
        return None
    stem = name.split("/", 1)[1].split(".", 1)[0]
    return stem if PERIOD_FILE.match(f"{stem}.csv") else None


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
def publisher_lock(paths: Paths) -> Iterator[None]:
    """One publisher at a time per installation (a CLI load and a UI run must not race)."""
    paths.releases.mkdir(parents=True, exist_ok=True)
    with open(paths.releases / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _object(paths: Paths, data: bytes, ext: str) -> Path:
    """Store ``data`` content-addressed (once) and return its path; existing objects are verified."""
    digest = hashlib.sha256(data).hexdigest()
    target = paths.releases / OBJECTS_DIR / digest[:2] / f"{digest}.{ext}"
    if target.exists():
        if hashlib.sha256(target.read_bytes()).hexdigest() == digest:
            return target
        log.warning("object %s did not match its checksum; rewriting it", target.name)
        target.chmod(0o644)
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    _write_file(tmp, data)
    tmp.chmod(0o444)
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    return target


def _link(source: Path, target: Path) -> None:
    """Hard link (shared storage); a copy where the filesystem has no hard links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _write_index(paths: Paths, entries: list[dict[str, Any]]) -> None:
    tmp = paths.releases / f".index-{uuid.uuid4().hex}.tmp"
    try:
        _write_file(tmp, (json.dumps({"vintages": entries}, ensure_ascii=False, indent=2) + "\n").encode())
        os.replace(tmp, paths.releases / INDEX)
        _fsync_dir(paths.releases)
    finally:
        tmp.unlink(missing_ok=True)


def _clean_unlisted(paths: Paths, entries: list[dict[str, Any]]) -> None:
    """Remove what a crashed publisher left: temp folders, and vintage folders never listed in the index
    (nobody could have seen them, so the number is reused and the result equals an uninterrupted run)."""
    listed = {e["vintage"] for e in entries}
    for tmp in (paths.releases / OBJECTS_DIR).glob("*/.*.tmp"):
        tmp.unlink(missing_ok=True)
    for child in paths.releases.iterdir():
        if child.name.startswith((".tmp-", ".index-")) or (VINTAGE.match(child.name) and child.name not in listed):
            log.warning("removing %s left by an interrupted publication", child.name)
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)


# ---------------------------------------------------------------- building and publishing

def build_period_files(figures: pd.DataFrame, closed_years: set[int]) -> dict[str, bytes]:
    """``data/<period>.json``, ``.csv`` and ``.sdmx.csv`` (SDMX-CSV 2.0) for every period of ``figures``
    (deterministic bytes), plus the SDMX data structure definition."""
    files: dict[str, bytes] = {STRUCTURE_FILE: sdmx.sdmx_structure()}
    for period, rows in kolada.by_period(figures).items():
        preliminary = not kolada.is_final(period, closed_years)
        files[data_file(period, "json")] = kolada.dumps(kolada.data_document(rows, preliminary=preliminary))
        files[data_file(period, "csv")] = kolada.csv_bytes(rows, preliminary=preliminary)
        cells = rows.assign(value=[kolada.published_value(v, s) for v, s in zip(rows["value"], rows["status"],
                                                                                 strict=True)],
                            preliminary=preliminary)
        files[data_file(period, "sdmx.csv")] = sdmx.sdmx_csv(cells)
    return files


def _cells(csv_files: dict[str, bytes]) -> dict[notes.Key, notes.Cell]:
    return notes.read_cells(*(data for name, data in sorted(csv_files.items())
                              if PERIOD_FILE.match(name.split("/")[-1]) and name.endswith(".csv")))


def publish_vintage(figures: pd.DataFrame, *, paths: Paths, submissions: list[dict[str, Any]],
                    closed_years: set[int] | None = None, reason: dict[str, Any] | None = None,
                    information_loss: dict[str, Any] | None = None, design: str = "",
                    now: datetime | None = None, carry_years: Collection[str] = (),
                    year_inputs: dict[str, str] | None = None) -> VintageResult:
    """Publish ``figures`` (output of disclosure control) as the next vintage, if and only if some
    published value differs from the current vintage.

    ``figures`` holds every period, or (an incremental load, issue 12) only the periods of the years that
    changed: the period files of ``carry_years`` are then taken over from the current vintage as they are
    (the same objects, hard-linked; their sha256 from its manifest), so the work is proportional to what
    changed and the vintage is byte-identical to one built from every period. The caller vouches that the
    carried years' inputs are unchanged (``year_inputs``, recorded in the manifest, is how it knows).
    """
    now = now or datetime.now(UTC)
    closed = closed_years or set()
    period_files = build_period_files(figures, closed)
    carry = set(carry_years)
    with publisher_lock(paths):
        entries = list_vintages(paths)
        _clean_unlisted(paths, entries)
        previous = paths.releases / entries[-1]["path"] if entries else None
        carried: dict[str, dict[str, Any]] = {}
        if previous is not None and carry:
            carried = {name: entry for name, entry in read_manifest(previous)["files"].items()
                       if (period := file_period(name)) and period[:4] in carry}
        old_csvs = period_csvs(previous, None if not carry else _years_except(previous, carry)) if previous else {}
        old_cells = _cells({data_file(p, "csv"): b for p, b in old_csvs.items()})
        changes = notes.compare(old_cells, _cells(period_files))
        if previous is not None and changes.total == 0:
            return VintageResult(previous, entries[-1]["vintage"], changed=False, changes=changes)

        number = max((int(VINTAGE.match(e["vintage"]).group(1)) for e in entries), default=0) + 1
        vintage = vintage_name(number)
        created = now.isoformat(timespec="seconds")
        periods = sorted({p for name in [*period_files, *carried] if (p := file_period(name))})
        files: dict[str, bytes] = {
            KPI_FILE: kolada.dumps(kolada.kpi_document(
                publ_period=str(max(int(p[:4]) for p in periods)) if periods else "",
                publication_date=now.date().isoformat(),
                preliminary=any(not kolada.is_final(p, closed) for p in periods),
            )),
            MUNICIPALITY_FILE: kolada.dumps(kolada.municipality_document()),
            CHANGES: notes.changes_csv(changes),
        }
        prev_entry = entries[-1] if entries else None
        files[NOTES] = notes.render(
            vintage=vintage, created=created, previous=prev_entry["vintage"] if prev_entry else None,
            changes=changes, reason=reason or {}, closed_years=closed, periods=periods,
            information_loss=information_loss or {}, design=design).encode("utf-8")
        all_files = {**files, **period_files}
        manifest = build_manifest(files=all_files, vintage=vintage, created=now, submissions=submissions,
                                  closed_years=closed, previous=prev_entry["vintage"] if prev_entry else None,
                                  reason=reason or {}, information_loss=information_loss or {},
                                  known=carried, year_inputs=year_inputs)
        files[MANIFEST] = (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()

        final = paths.releases / vintage
        tmp = paths.releases / f".tmp-{uuid.uuid4().hex}"
        (tmp / DATA_DIR).mkdir(parents=True)
        try:
            for name, data in sorted(period_files.items()):
                _link(_object(paths, data, name.split(".", 1)[1]), tmp / name)
            for name in sorted(carried):  # unchanged years: the current vintage's files (same objects)
                _link(previous / name, tmp / name)
            faults.point("publish.after_objects")
            for name in sorted(files):
                _write_file(tmp / name, files[name])
            _fsync_dir(tmp / DATA_DIR)
            _fsync_dir(tmp)
            if final.exists():  # immutability: never overwrite (rename would also refuse a non-empty dir)
                raise FileExistsError(f"Årgången {vintage} finns redan och får inte skrivas över.")
            os.rename(tmp, final)
            _fsync_dir(paths.releases)
            faults.point("publish.after_rename")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        entry = {"vintage": vintage, "path": vintage, "created": created, "reason": (reason or {}).get("text", "")}
        try:
            _write_index(paths, [*entries, entry])
        except BaseException:
            # Not yet announced: take the folder back out so the visible state is exactly the old one.
            hidden = paths.releases / f".tmp-{uuid.uuid4().hex}"
            os.rename(final, hidden)
            shutil.rmtree(hidden, ignore_errors=True)
            raise
        return VintageResult(final, vintage, changed=True, changes=changes)


def _years_except(folder: Path, carry: set[str]) -> set[str]:
    """Years of a vintage's period files other than ``carry`` (the ones an incremental load replaces)."""
    data = folder / DATA_DIR
    names = [f.name for f in data.iterdir()] if data.is_dir() else []
    return {m.group(1)[:4] for n in names if (m := PERIOD_FILE.match(n))} - carry


def storage_bytes(paths: Paths) -> int:
    """Bytes the release folder really holds (hard-linked files counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, names in os.walk(paths.releases):
        for name in names:
            stat = os.lstat(os.path.join(root, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def vintage_bytes(folder: Path) -> int:
    """Bytes of one vintage as a consumer downloads it (every file counted)."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
