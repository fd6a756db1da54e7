"""The single validation entry point, used by the Dagster pipeline, the upload service and ``sukf precheck``.

Order matters and is deliberate:

1. the door check (:func:`door_check`, also what the upload service and landing ingest run before
   storing anything): read the bytes (``pipeline.submission.reading``, which for a workbook also
   scans every part); an unreadable file gives one file-level error;
2. scan every cell and column name for personnummer-like values. Any hit rejects the whole file
   with E_PERSONNUMMER and **nothing else runs**: later checks quote values (unknown codes,
   dates), and a file known to hold identity numbers must not have any of its values echoed;
3. prepare the frame (strip, blank → None, multi-select codes upper-cased) — the same preparation
   the GE suites were written for;
4. GE error suite, GE warning suite, then the rules GE cannot express (see ``rules`` for who owns
   what), merged into one list with each problem once;
5. status: rejected if any error; otherwise accepted with normalised ``cases``.

:func:`validate_batch` runs the same steps for many files: steps 1–2 per file, steps 3–5 once over
all readable files stacked into one frame (GE once per set of columns: its cost is per validation, not
per row), every result split back per file; :func:`validate_submission` is a batch of one, so the
precheck, the upload service and the pipeline share one code path.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.contract.dictionary import BY_NAME, Kind, municipality_codes
from pipeline.contract.periods import Quarter
from pipeline.contract.rule_catalogue import RULES, Severity
from pipeline.raw.register import ACCEPTED, REJECTED
from pipeline.submission.reading import ParsedFile, UnreadableFile, read_submission
from pipeline.validation import case_checks, expectations
from pipeline.validation.case_checks import Issue, IssueCounts, make_issue, value_issue
from pipeline.validation.personnummer import find_personnummer

log = logging.getLogger(__name__)

_MULTI_SPACES = re.compile(r"\s*\|\s*")
_DEDUPE_ROWS = 1000
"""From this many rows, preparing each distinct text once beats one call per cell (factorize costs more
than it saves on the typical file of a few dozen rows)."""

__all__ = ["BatchItem", "DoorVerdict", "Issue", "ValidationResult", "door_check", "validate_batch",
           "validate_submission", "prepare", "normalise_cases", "remember_admitted", "take_admitted"]


@dataclass
class ValidationResult(IssueCounts):
    status: str  # "accepted" | "rejected"
    issues: list[Issue]
    cases: pd.DataFrame | None  # national columns, normalised; None when rejected
    kommunkod: str | None
    n_rows: int
    period: str = ""
    file_format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # step -> wall time, for tuning

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED


def _clean_cell(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells stripped, blank → None, multi-select codes upper-case without spaces, period upper-case.

    Column order and positions are kept (position i is still ``row_numbers[i]``).
    """
    out = {}
    dedupe = len(frame) >= _DEDUPE_ROWS
    for name in frame.columns:
        values = frame[name].to_numpy(dtype=object)
        if dedupe:  # each distinct text is cleaned once (a column of codes has a handful), then spread out
            codes, values = pd.factorize(values)
        cleaned = [_clean_cell(v) for v in values]
        var = BY_NAME.get(name)
        if var is not None and (var.kind is Kind.MULTI or var.kind is Kind.PERIOD):
            cleaned = [_MULTI_SPACES.sub("|", v).upper() if v is not None else None for v in cleaned]
        if dedupe:
            cleaned = np.array([*cleaned, None], dtype=object)[codes]  # factorize: -1 (None/NaN) = last entry
        out[name] = pd.Series(cleaned, dtype=object)
    return pd.DataFrame(out, columns=list(frame.columns)) if out else pd.DataFrame(index=frame.index)


def normalise_cases(prepared: pd.DataFrame) -> pd.DataFrame:
    """National columns only (lokal_* and unknown columns dropped); ``YYYY-MM`` → ``YYYY-MM-01``;
    multi-selects as sorted, de-duplicated codes joined by ``|``."""
    cases = case_checks.national_only(prepared)
    for var in BY_NAME.values():
        if var.kind is not Kind.DATE and var.kind is not Kind.MULTI:
            continue
        column = cases[var.name].to_numpy(dtype=object).tolist()  # a list: iterating a Series costs 3×
        if var.kind is Kind.DATE:
            values = [v + "-01" if v is not None and len(v) == 7 else v for v in column]
        else:  # a multi-select column holds a few distinct selections: each sorted once
            distinct = {v: "|".join(sorted(set(v.split("|")))) for v in set(column) if v is not None}
            values = [distinct[v] if v is not None else None for v in column]
        cases[var.name] = pd.Series(values, dtype=object)  # explicit: pandas 3 would infer str + NaN
    return cases


def _file_kommunkod(prepared: pd.DataFrame) -> str | None:
    """The most common known kommunkod in the file (rows with another code are then errors)."""
    if "kommunkod" not in prepared.columns:
        return None
    known = municipality_codes()
    counts = Counter(v for v in prepared["kommunkod"] if v in known)
    return counts.most_common(1)[0][0] if counts else None


def _ge_issues(result: expectations.SuiteResult, prepared: pd.DataFrame,
               row_numbers: list[int]) -> list[Issue]:
    issues: list[Issue] = []
    for outcome in result.failed_outcomes:
        if outcome.error:
            # Never accept a file because a check could not run; the message carries no data.
            raise RuntimeError(f"Great Expectations could not run {outcome.name} ({outcome.rule})")
        if outcome.rule == "E_MISSING_COLUMN":
            issues += [make_issue(outcome.rule, None, name, None, f"kolumnen {name} finns inte i filen.",
                                  f"column {name} is not in the file.") for name in outcome.missing_columns]
        elif outcome.rule == "E_TOO_MANY_ROWS":
            issues.append(make_issue(outcome.rule, None, None, str(outcome.observed)))
        elif outcome.rule == "W_UNKNOWN_SHARE":
            share = float(outcome.observed or 0)
            issues.append(make_issue(outcome.rule, None, outcome.column, f"{share:.0f} %",
                                     f"{share:.0f} % av raderna med värde har 99 (okänt).",
                                     f"{share:.0f} % of the rows with a value are 99 (unknown)."))
        else:
            column = prepared[outcome.column] if outcome.column in prepared.columns else None
            for pos in outcome.rows:
                raw = column.iloc[pos] if column is not None else None
                issues.append(value_issue(outcome.rule, row_numbers[pos], outcome.column, raw))
    return issues


def _personnummer_issues(frame: pd.DataFrame, row_numbers: list[int]) -> list[Issue]:
    issues = []
    for hit in find_personnummer(frame):
        if hit.row is None:
            issues.append(make_issue("E_PERSONNUMMER", None, None, None,
                                     f"i rubriken för kolumn nr {hit.column_index + 1}.",
                                     f"in the header of column no. {hit.column_index + 1}."))
        else:
            issues.append(make_issue("E_PERSONNUMMER", row_numbers[hit.row], hit.column, None,
                                     "värdet visas inte.", "the value is not shown."))
    return issues


def _file_issue(exc: UnreadableFile) -> Issue:
    rule = exc.code if exc.code in RULES else "E_BROKEN_FILE"
    spec = RULES[rule]
    return Issue(spec.severity, rule, None, None, None, exc.message_sv, exc.message_en, spec.fix_sv)


@dataclass(frozen=True)
class BatchItem:
    """One file to validate in :func:`validate_batch` (the arguments of :func:`validate_submission`)."""

    data: bytes
    filename: str
    period: str
    kommunkod: str | None = None
    history: pd.DataFrame | None = None
    door: DoorVerdict | None = None  # the door check of exactly these bytes, when it already ran


@dataclass
class _Read:
    """A readable file without personnummer, waiting to be checked with the rest of its batch."""

    item: BatchItem
    quarter: Quarter
    frame: pd.DataFrame
    row_numbers: list[int]
    base: dict


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.started = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(now - self.started, 4)
        self.started = now


def validate_submission(data: bytes, filename: str, *, period: str, kommunkod: str | None = None,
                        history: pd.DataFrame | None = None) -> ValidationResult:
    """Validate one submitted file for ``period`` (``YYYYQn``).

    ``kommunkod`` None means "take it from the file" (the most common known code in it).
    ``history``: this municipality's earlier accepted cases (national columns, quarters before
    ``period``) for the cross-quarter warnings.
    """
    return validate_batch([BatchItem(data, filename, period, kommunkod, history)])[0]


def validate_batch(items: list[BatchItem]) -> list[ValidationResult]:
    """Validate many files; each result is exactly what :func:`validate_submission` gives for it alone.

    Reading and the privacy scan are per file (a refusal ends that file's validation). The readable
    files are then stacked into one frame: preparation, the row rules and normalisation run once over
    all rows, and Great Expectations once per set of columns (its cost is per expectation and
    validation, not per row); every result is split back per file. Per-file pandas work was most of a
    quarter's cost: 290 small frames cost ≈10 s CPU where one stack of 3 700 rows costs a fraction.
    """
    results: list[ValidationResult | None] = [None] * len(items)
    pending: list[tuple[int, _Read, _Clock]] = []
    for i, item in enumerate(items):
        clock = _Clock()
        state = _read(item, clock)
        if isinstance(state, ValidationResult):
            results[i] = state
        else:
            pending.append((i, state, clock))
    if pending:
        checked = _check_stacked([state for _, state, _ in pending], [clock for _, _, clock in pending])
        for (i, _, _), result in zip(pending, checked, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]


def _stack(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, list[int]]:
    """All frames one after another, over the union of their columns (a column a file lacks is None
    there); and each frame's start row (plus the end)."""
    if len(frames) == 1:  # one file (an upload, precheck): its frame is the stack; copying 20 000 rows cost 0.02 s
        return frames[0], [0, len(frames[0])]
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    position = {c: j for j, c in enumerate(columns)}
    starts = [0]
    for f in frames:
        starts.append(starts[-1] + len(f))
    cells = np.full((starts[-1], len(columns)), None, dtype=object)
    for f, a, b in zip(frames, starts, starts[1:], strict=False):
        if b > a:
            cells[a:b, [position[c] for c in f.columns]] = f.to_numpy(dtype=object)
    return pd.DataFrame(cells, columns=columns), starts


class _Cut:
    """A stacked frame as one object array, cut back into one frame per file.

    WHY not ``iloc`` + column selection per file: that is a few pandas operations per file and frame
    kind (290 files × prepared, national and normalised frames), where one array slice per file
    builds the same frame (object cells, positions 0..n-1) at a fraction of the cost."""

    def __init__(self, stacked: pd.DataFrame) -> None:
        self.cells = stacked.to_numpy(dtype=object)
        self.position = {c: j for j, c in enumerate(stacked.columns)}
        self.labels: dict[tuple[str, ...], tuple[pd.Index, list[int]]] = {}  # files share a few column sets

    def rows(self, a: int, b: int, columns: list[str]) -> pd.DataFrame:
        """Rows ``a:b`` with ``columns`` (in that order), positions 0..n-1 again."""
        key = tuple(columns)
        if key not in self.labels:  # an Index is immutable: built once per column set, shared by the frames
            self.labels[key] = (pd.Index(columns), [self.position[c] for c in columns])
        labels, positions = self.labels[key]
        return pd.DataFrame(self.cells[a:b][:, positions], columns=labels, dtype=object)


def _check_stacked(states: list[_Read], clocks: list[_Clock]) -> list[ValidationResult]:
    """Preparation, Great Expectations, the rules and normalisation of many read files at once."""
    n = len(states)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal started
        now = time.perf_counter()
        timings[step] = round((now - started) / n, 4)  # each file's share
        started = now

    stacked, starts = _stack([s.frame for s in states])
    prepared_all = prepare(stacked)
    cut = _Cut(prepared_all)
    spans = list(zip(starts, starts[1:], strict=False))
    prepared = [cut.rows(a, b, list(s.frame.columns)) for s, (a, b) in zip(states, spans, strict=True)]
    row_numbers = [number for s in states for number in s.row_numbers]
    lap("prepare")

    national = [cut.rows(a, b, [c for c in s.frame.columns if c in BY_NAME]) for s, (a, b) in zip(states, spans,
                                                                                                  strict=True)]
    suite_results = expectations.run_file_suites_batch(national)
    lap("great_expectations")

    owners = [s.item.kommunkod if s.item.kommunkod is not None else _file_kommunkod(p)
              for s, p in zip(states, prepared, strict=True)]
    files = [case_checks.FileRows(len(p), s.quarter, own, s.base["period"],
                                  "maluppfyllelse" in p.columns and "insatser" in p.columns)
             for s, p, own in zip(states, prepared, owners, strict=True)]
    row_issues = case_checks.check_rows_batch(prepared_all, row_numbers, files)
    merged = []
    for s, p, own, rows, (error_result, warning_result) in zip(states, prepared, owners, row_issues, suite_results,
                                                               strict=True):
        numbers = s.row_numbers
        issues = _ge_issues(error_result, p, numbers) + _ge_issues(warning_result, p, numbers) + rows
        issues += case_checks.check_columns(p.columns)
        issues += case_checks.check_history(p, numbers, s.item.history, quarter=s.quarter)
        if own is None and len(p):  # zero cases is a valid report whoever sends it (same verdict at every door)
            issues.append(make_issue("E_WRONG_KOMMUN", None, "kommunkod", None,
                                     "filen har ingen giltig kommunkod, så inlämningens kommun kan inte avgöras.",
                                     "the file has no valid municipality code."))
        merged.append(case_checks.merge(issues))
    lap("rules")

    rejected = [any(i.severity == Severity.ERROR for i in m) for m in merged]
    cases_all = normalise_cases(prepared_all) if not all(rejected) else None
    cases_cut = _Cut(cases_all) if cases_all is not None else None
    lap("normalise")

    results = []
    for s, clock, own, issues, bad, a, b in zip(states, clocks, owners, merged, rejected, starts, starts[1:],
                                                strict=False):
        clock.timings.update(timings)
        cases = None if bad or cases_cut is None else cases_cut.rows(a, b, list(cases_all.columns))
        status = REJECTED if bad else ACCEPTED
        n_errors = sum(i.severity == Severity.ERROR for i in issues)
        log.info("validated %d rows: %s, %d errors, %d warnings", b - a, status, n_errors, len(issues) - n_errors)
        results.append(ValidationResult(status, issues, cases, own, b - a, **s.base))
    return results


@dataclass
class DoorVerdict:
    """What every door decides before anything is stored: the table, or the errors refusing the file.

    ``issues`` empty means the file may enter (full validation may still reject it later).
    """

    parsed: ParsedFile | None
    issues: list[Issue]

    @property
    def refused(self) -> bool:
        return bool(self.issues)


def door_check(data: bytes, filename: str, clock: _Clock | None = None) -> DoorVerdict:
    """File type, readability, size and the privacy scan: the one check precheck, the upload
    service, the landing ingest and the pipeline all run, so the same bytes get the same verdict.

    A personnummer anywhere refuses the whole file and nothing else runs: later checks quote
    values, and no value of a file known to hold identity numbers may be echoed.
    """
    clock = clock or _Clock()
    try:
        parsed = read_submission(data, filename)
    except UnreadableFile as exc:
        clock.lap("read")
        if exc.code == "E_PERSONNUMMER":
            log.warning("personnummer-like values in the workbook: file rejected, values not shown")
        return DoorVerdict(None, [_file_issue(exc)])
    clock.lap("read")
    parsed.frame = parsed.frame.reset_index(drop=True)
    hits = _personnummer_issues(parsed.frame, list(parsed.row_numbers))
    clock.lap("personnummer")
    if hits:
        log.warning("personnummer-like values in %d cell(s): file rejected, values not shown", len(hits))
    return DoorVerdict(parsed, case_checks.merge(hits))


class _Admitted:
    """Door verdicts of admitted bytes by checksum, bounded by rows kept (oldest dropped first)."""

    ROWS_KEPT = 100_000  # a national quarter is ≈ 4 000 rows; a dropped verdict only means one more read

    def __init__(self) -> None:
        self.verdicts: dict[str, DoorVerdict] = {}
        self.rows = 0

    def put(self, sha256: str, verdict: DoorVerdict) -> None:
        self.pop(sha256)
        self.verdicts[sha256] = verdict
        self.rows += len(verdict.parsed.frame) + 1
        while self.rows > self.ROWS_KEPT and len(self.verdicts) > 1:
            self.pop(next(iter(self.verdicts)))

    def pop(self, sha256: str) -> DoorVerdict | None:
        verdict = self.verdicts.pop(sha256, None)
        if verdict is not None:
            self.rows -= len(verdict.parsed.frame) + 1
        return verdict


_ADMITTED = _Admitted()


def remember_admitted(sha256: str, verdict: DoorVerdict) -> None:
    """Keep the door verdict of admitted bytes (by their checksum) for this process's validation of them.

    WHY: the landing ingest and validation run one after the other in one Dagster run; reading and
    scanning every file twice was a third of the intake's CPU. The verdict is a function of the bytes
    alone (the file name only words the messages of refusals, and refusals are not kept), and the
    validation that takes it has just read those bytes back from the archive and checked them against
    the same checksum, so it judges exactly what the archive holds. The frame is shared: nothing in
    validation writes to it.
    """
    if not verdict.refused and verdict.parsed is not None:
        _ADMITTED.put(sha256, verdict)


def take_admitted(sha256: str) -> DoorVerdict | None:
    """The remembered door verdict of these bytes (forgotten as it is handed out), or None."""
    return _ADMITTED.pop(sha256)


def _read(item: BatchItem, clock: _Clock) -> ValidationResult | _Read:
    """The door check: a refusal ends validation of this file."""
    quarter = Quarter.parse(item.period)
    period = str(quarter)
    kommunkod = item.kommunkod
    verdict = item.door if item.door is not None else door_check(item.data, item.filename, clock)
    parsed = verdict.parsed
    if parsed is None:
        return ValidationResult(REJECTED, verdict.issues, None, kommunkod, 0, period, seconds=clock.timings)
    frame, row_numbers = parsed.frame, list(parsed.row_numbers)
    base = dict(period=period, file_format=parsed.format, encoding=parsed.encoding,
                delimiter=parsed.delimiter, seconds=clock.timings)
    if verdict.refused:
        return ValidationResult(REJECTED, verdict.issues, None, kommunkod, len(frame), **base)
    return _Read(item, quarter, frame, row_numbers, base)
