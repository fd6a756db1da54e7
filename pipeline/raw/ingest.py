"""Receive a file: archive its bytes untouched, then register it as a new submission version.

Two doors lead here: the upload service (kommunkod known from the token) and the landing folder
(``landing/<YYYYQn>/<file>``, optionally with ``<file>.meta.json``) watched by the Dagster sensor.
The original file name is kept only as sanitised metadata; it is never used as a path.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import faults
from pipeline.contract.dictionary import municipality_codes
from pipeline.contract.periods import is_quarter
from pipeline.raw import archive
from pipeline.raw.register import REJECTED, Received, Register, Submission
from pipeline.settings import Paths
from pipeline.settings import paths as default_paths
from pipeline.validation.personnummer import normalise

if TYPE_CHECKING:
    from pipeline.validation.validate import DoorVerdict

log = logging.getLogger(__name__)

_DIGIT_RUN = re.compile(r"\d[\d\s+-]{8,}\d")
_KOMMUN_IN_NAME = re.compile(r"(?<!\d)(\d{4})(?![\dQq])")  # not the year of "2026Q1"


def safe_name(name: str, limit: int = 120) -> str:
    """A display-only version of a sender's file name.

    Keeps the last path component, drops control characters and masks long digit runs (a file
    named after a personnummer must not end up in a log or report).
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if _DIGIT_RUN.search(normalise(base)):  # digits or dashes in disguise (en dash, full width, …)
        base = _DIGIT_RUN.sub("[dold siffersträng]", normalise(base))
    return (base or "namnlös")[:limit]


def ingest_bytes(data: bytes, *, original_name: str, period: str, kommunkod: str | None, source: str,
                 paths: Paths | None = None) -> Submission:
    """Archive ``data`` durably (fsync) and register it; returns the submission (version assigned).

    The bytes are on disk before this returns, so a receipt can be sent safely afterwards.
    """
    if not is_quarter(period):
        raise ValueError(f"Ogiltig period {period!r}: använd ÅÅÅÅKn, t.ex. 2025Q3")
    paths = paths or default_paths()
    digest, _ = archive.store(paths.raw, data)
    faults.point("ingest.after_archive")
    sub, created = Register(paths).add(
        kommunkod=kommunkod, period=period.upper(), sha256=digest, original_name=safe_name(original_name),
        size_bytes=len(data), source=source,
    )
    log.info("%s submission %s (kommun %s, %s, version %s, %d bytes)",
             "registered" if created else "already had", sub.submission_id, kommunkod or "?", period,
             sub.version, len(data))
    return sub


def _landing_kommunkod(name: str, frame, meta: dict) -> str | None:
    """Who sent a dropped file: the sidecar, else the rows' own kommunkod, else the file name.

    The content wins over the name (a name like ``rapport_2026.csv`` holds a valid kommunkod,
    Gagnef's); the name is only the last resort so an unreadable file still reaches its sender.
    ``frame`` is the table the door check read (None when the file was unreadable or refused).
    """
    code = meta.get("kommunkod")
    if code in municipality_codes():
        return code
    from_content = _kommunkod_in_content(frame)
    if from_content:
        return from_content
    names = [m.group(1) for m in _KOMMUN_IN_NAME.finditer(name) if m.group(1) in municipality_codes()]
    return names[0] if len(names) == 1 else None


def _kommunkod_in_content(frame) -> str | None:
    """For a drop without sidecar: the single known kommunkod the rows carry, if there is one."""
    if frame is None or "kommunkod" not in frame.columns:
        return None
    values = {v.strip() for v in frame["kommunkod"] if isinstance(v, str)} & municipality_codes()
    return values.pop() if len(values) == 1 else None


def drop_in_landing(paths: Paths, files: list[Path], quarter: str | None = None) -> list[Path]:
    """Copy generated or delivered files into ``landing/<quarter>/`` as a coordinator drops them there
    (``quarter`` None: each file's own folder name, as the generator writes them). One definition for
    the demo, the benchmarks and the tests; ``ingest_landing`` then takes them in."""
    placed = []
    for file in files:
        target = paths.landing / (quarter or file.parent.name) / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        placed.append(target)
    return placed


def landing_files(paths: Paths, period: str | None = None) -> list[tuple[str, Path]]:
    """(quarter, file) for every file waiting in ``landing/<YYYYQn>/``."""
    out = []
    for folder in sorted(paths.landing.iterdir()) if paths.landing.exists() else []:
        if not folder.is_dir() or not is_quarter(folder.name) or (period and folder.name != period):
            continue
        out += [(folder.name, f) for f in sorted(folder.iterdir())
                if f.is_file() and not f.name.endswith(".meta.json") and not f.name.startswith(".")]
    return out


def refuse_at_door(data: bytes, *, original_name: str, period: str, kommunkod: str | None, source: str,
                   issues: list, paths: Paths) -> Submission:
    """Register a file the door check refused, with its report, *without* archiving its bytes.

    The upload service answers such a file with an error and stores nothing; a dropped file gets
    the same verdict, and since nobody is waiting on the line its report (places, never values)
    is where the sender learns why. Keeping the bytes would keep identity numbers in the archive.
    """
    register = Register(paths)
    ((sub, created),) = register.add_many([_received(data, safe_name(original_name), period, kommunkod, source)])
    if created:
        return _record_refusals(paths, register, [(sub, issues)])[sub.submission_id]
    return sub


def _received(data: bytes, name: str, period: str, kommunkod: str | None, source: str) -> Received:
    return Received(kommunkod=kommunkod, period=period.upper(), sha256=archive.sha256_hex(data), original_name=name,
                    size_bytes=len(data), source=source)


def _record_refusals(paths: Paths, register: Register, refused: list[tuple[Submission, list]]) -> dict[str, Submission]:
    """Reports and rejected status of newly registered files the door refused (one register transaction);
    the updated submissions by id."""
    from pipeline.validation.record_and_stage import record_batch
    from pipeline.validation.validate import ValidationResult

    outcomes = record_batch(paths, register, [sub for sub, _ in refused],
                            [ValidationResult(REJECTED, issues, None, sub.kommunkod, 0, sub.period)
                             for sub, issues in refused])
    for (sub, issues) in refused:
        log.info("refused at the door: submission %s (kommun %s, %s), %s; bytes not archived", sub.submission_id,
                 sub.kommunkod or "?", sub.period, issues[0].rule)
    return {o.submission.submission_id: o.submission for o in outcomes}


@dataclass
class _Landed:
    """One file found in ``landing/``, read and door-checked."""

    quarter: str
    file: Path
    sidecar: Path
    data: bytes
    received: Received
    verdict: DoorVerdict


def _look_at(paths: Paths, quarter: str, file: Path) -> _Landed:
    """Read a landed file and its sidecar and run the door check on its bytes."""
    from pipeline.validation.validate import door_check

    sidecar = file.with_name(file.name + ".meta.json")
    meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
    data = file.read_bytes()
    name = meta.get("original_name", file.name)
    verdict = door_check(data, name)
    kommunkod = _landing_kommunkod(file.name, verdict.parsed.frame if verdict.parsed else None, meta)
    received = _received(data, safe_name(name), quarter, kommunkod, meta.get("source", "landing"))
    return _Landed(quarter, file, sidecar, data, received, verdict)


def ingest_landing(paths: Paths | None = None, period: str | None = None) -> list[Submission]:
    """Move every landed file (optionally of one quarter) into the archive and register.

    Each file first passes the same door check as an upload (``validate.door_check``): a refused
    file is registered as rejected with its report but its bytes are not archived (see
    :func:`refuse_at_door`). The landing copy is removed only after the archive copy is durable
    and registered, so nothing is lost if the process dies in between (the next run finds the same
    bytes again: the archive and the register are idempotent for identical bytes).

    The files are taken in as one batch: all archived (``archive.store_many``, durable when it returns),
    then all registered in one transaction, in landing order (so versions are what one file at a time
    gives). The door verdict of every admitted file is kept for this process's validation
    (``validate.remember_admitted``): a file is read and scanned once per run, not once at the door and
    again at validation.
    """
    from pipeline.validation.validate import remember_admitted

    paths = paths or default_paths()
    landed = [_look_at(paths, quarter, file) for quarter, file in landing_files(paths, period)]
    if not landed:
        return []
    archive.store_many(paths.raw, [item.data for item in landed if not item.verdict.refused])
    faults.point("ingest.after_archive")
    register = Register(paths)
    added = register.add_many([item.received for item in landed])
    new_refusals = [(sub, item.verdict.issues) for item, (sub, created) in zip(landed, added, strict=True)
                    if created and item.verdict.refused]
    refused = _record_refusals(paths, register, new_refusals) if new_refusals else {}
    received = []
    for item, (sub, created) in zip(landed, added, strict=True):
        if not item.verdict.refused:
            remember_admitted(sub.sha256, item.verdict)
            log.info("%s submission %s (kommun %s, %s, version %s, %d bytes)",
                     "registered" if created else "already had", sub.submission_id, sub.kommunkod or "?",
                     sub.period, sub.version, sub.size_bytes)
        received.append(refused.get(sub.submission_id, sub))
    faults.point("ingest.after_register")
    for item in landed:
        item.file.unlink()
        item.sidecar.unlink(missing_ok=True)
    return received
