"""Validate every received submission of a quarter, then stage the current accepted versions.

``validate_pending`` (the ``validated_submissions`` asset): all received files are validated
together (``validate_batch``: one stacked frame and one Great Expectations pass for the quarter,
results identical to validating each file alone); then (``record_batch``) every accepted version's
normalised cases go to ``validated/<submission_id>.parquet`` (one partitioned DuckDB ``copy`` for the
batch), and only then are all outcomes recorded in the register with their JSON reports, in one
transaction (the HTML page of a report is rendered from it when opened). Rejected files stay
quarantined: they are in the raw archive and the register, and nothing downstream reads them.

``stage_period`` (the ``accepted_cases`` asset): makes ``accepted/<quarter>/`` hold exactly the
register's current accepted version per municipality, rebuilding a missing validated file from the
raw archive. It is idempotent, so a re-run repairs whatever an interrupted one left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline import faults
from pipeline.raw import archive
from pipeline.raw.register import ACCEPTED, RECEIVED, REJECTED, Register, Submission, Verdict
from pipeline.settings import Paths
from pipeline.staged import accepted as staged
from pipeline.staged.accepted import HISTORY_COLUMNS
from pipeline.validation.report import META_KEYS, render_json
from pipeline.validation.validate import BatchItem, ValidationResult, take_admitted, validate_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    submission: Submission
    result: ValidationResult
    current: bool  # True when this version is now the municipality's current accepted one


def _check_all(paths: Paths, pending: list[Submission]) -> list[ValidationResult]:
    """Validate all pending files in one batch.

    Great Expectations costs a few milliseconds per expectation per validation whatever the row
    count, and pandas a fixed cost per frame, so the whole quarter goes through one ``validate_batch``
    call (one stacked frame; ≈4 s CPU for 290 files, where one validation per file took about a
    minute) instead of worker processes.
    Histories are read before any outcome is recorded, as each file is judged against the staged
    cases of earlier quarters only. Every file's bytes are read back from the archive (checksum
    verified); a file the landing ingest of this process admitted is not parsed again
    (``validate.take_admitted``: its door verdict, from the same bytes).
    """
    histories = staged.histories(paths, [(s.kommunkod, s.period) for s in pending if s.kommunkod],
                                 HISTORY_COLUMNS)
    doors = {sha256: take_admitted(sha256) for sha256 in {sub.sha256 for sub in pending}}
    items = [BatchItem(archive.load(paths.raw, sub.sha256), sub.original_name, sub.period, sub.kommunkod,
                       histories[(sub.kommunkod, sub.period)] if sub.kommunkod else None, doors[sub.sha256])
             for sub in pending]
    return validate_batch(items)


def record(paths: Paths, register: Register, sub: Submission, result: ValidationResult) -> Outcome:
    """Write the validated file, record the outcome and its report of one file (:func:`record_batch` of one)."""
    return record_batch(paths, register, [sub], [result])[0]


def record_batch(paths: Paths, register: Register, subs: list[Submission],
                 results: list[ValidationResult]) -> list[Outcome]:
    """Validated files, then the register's outcomes and reports of a batch (sequential: shared state).

    Write-ahead as for one file: every accepted version's validated file exists before the register says
    so. The validated files are written in one go and the outcomes are recorded with their reports in one
    transaction (one commit), where one write and one commit per file cost ≈10 s CPU for a quarter.
    """
    statuses = []
    accepted = []
    for sub, result in zip(subs, results, strict=True):
        status = ACCEPTED if result.status == ACCEPTED and sub.kommunkod and sub.version else REJECTED
        statuses.append(status)
        if status == ACCEPTED and result.cases is not None:
            accepted.append((result.cases, sub.submission_id, sub.version))
    staged.write_validated_many(paths, accepted)  # write-ahead: the files exist before the status
    faults.point("validate.after_validated")
    verdicts = []
    for sub, result, status in zip(subs, results, statuses, strict=True):
        n_errors = sum(1 for i in result.issues if i.severity == "error")
        report = render_json(result, {k: getattr(sub, k) for k in META_KEYS})
        verdicts.append(Verdict(sub.submission_id, status, result.n_rows, n_errors, len(result.issues) - n_errors,
                                report))
    recorded = register.record_validations(verdicts)
    faults.point("validate.after_record")
    current = {period: register.current(period) for period in {s.period for s in recorded}}
    outcomes = []
    for sub, result, verdict in zip(recorded, results, verdicts, strict=True):
        now = current[sub.period].get(sub.kommunkod) if sub.kommunkod else None
        log.info("submission %s (kommun %s, %s v%s): %s, %d errors, %d warnings", sub.submission_id,
                 sub.kommunkod or "?", sub.period, sub.version, verdict.status, verdict.n_errors, verdict.n_warnings)
        outcomes.append(Outcome(sub, result, now is not None and now.submission_id == sub.submission_id))
    return outcomes


def validate_pending(paths: Paths, period: str) -> list[Outcome]:
    """Validate all received submissions of ``period`` in arrival order."""
    register = Register(paths)
    staged.ensure_schema_file(paths)
    pending = register.list(period=period, status=RECEIVED)
    pending.sort(key=lambda s: (s.kommunkod or "", s.version or 0, s.received_at))
    return record_batch(paths, register, pending, _check_all(paths, pending))


@dataclass(frozen=True)
class Staging:
    current: dict[str, Submission]  # kommunkod -> the version that now feeds the figures
    restaged: list[str]  # kommuner whose staged file was replaced or repaired in this run
    removed: list[str]  # staged files with no accepted version behind them (taken out)


def _rebuild_validated(paths: Paths, sub: Submission) -> None:
    """Re-derive a missing validated file from the raw archive (checksum-verified), e.g. after a crash."""
    history = staged.history(paths, sub.kommunkod, sub.period, HISTORY_COLUMNS)
    (result,) = validate_batch([BatchItem(archive.load(paths.raw, sub.sha256), sub.original_name, sub.period,
                                          sub.kommunkod, history)])
    if result.cases is None:
        raise RuntimeError(f"inlämning {sub.submission_id} är godkänd i registret men går inte att validera om")
    staged.write_validated(paths, cases=result.cases, submission_id=sub.submission_id, version=sub.version)
    log.warning("rebuilt the validated cases of submission %s from the raw archive", sub.submission_id)


def stage_period(paths: Paths, period: str) -> Staging:
    """Make the staged files of ``period`` equal the register's current accepted versions."""
    current = Register(paths).current(period)
    staged.ensure_schema_file(paths)
    restaged = []
    for kommunkod, sub in sorted(current.items()):
        if staged.is_staged(paths, period, kommunkod, sub.submission_id):
            continue
        if not staged.validated_file(paths, sub.submission_id).exists():
            _rebuild_validated(paths, sub)
        staged.stage(paths, period, kommunkod, sub.submission_id)
        restaged.append(kommunkod)
        faults.point("stage.after_link")
    removed = sorted(staged.staged_kommuner(paths, period) - set(current))
    for kommunkod in removed:
        staged.unstage(paths, period, kommunkod)
    return Staging(current, restaged, removed)


def validate_and_stage(paths: Paths, period: str) -> list[Outcome]:
    """What the intake job's validation and staging steps do for one quarter, in one call (for tools and tests
    that take a quarter in without Dagster)."""
    outcomes = validate_pending(paths, period)
    stage_period(paths, period)
    return outcomes
