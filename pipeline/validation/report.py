"""The validation report: JSON for machines, one self-contained HTML page for the social worker.

A submission's report is stored once, as JSON, in the register with its outcome (``stored_json``); its
HTML page is rendered from that JSON when someone opens it (``stored_html``), so the two never disagree
and a national batch writes no file per report.

Why grouped: a 20 000-row file with one bad column has 20 000 issues. The JSON keeps every one
(the upload client and tests need rows), while the HTML shows one table row per rule × column,
with the affected rows as compact ranges ("2–20001") and at most a few distinct values, so the
page stays readable and small.

Privacy: values are only what ``Issue.value`` allows (never personal), and every free string that
reaches a report (messages, file name) goes through ``personnummer.mask`` as a last line of
defence. Everything in the HTML is escaped (Jinja2 autoescape, ``templates/report.html``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.contract.dictionary import BY_NAME, municipality_names
from pipeline.contract.rule_catalogue import RULES, Severity
from pipeline.raw.register import ACCEPTED, REJECTED, STATUS_SV, Register
from pipeline.templating import render
from pipeline.validation.case_checks import CROSS_QUARTER_RULES, Issue, IssueCounts, location_sv
from pipeline.validation.personnummer import mask

if TYPE_CHECKING:  # the upload client prints reports without loading the validation machinery
    from pipeline.settings import Paths
    from pipeline.validation.validate import ValidationResult

SHOWN_ISSUES = 20  # issues printed in a terminal; the files have them all
META_KEYS = ("submission_id", "kommunkod", "period", "version", "original_name", "sha256", "received_at")
MAX_ROWS_LISTED = 200  # row numbers spelled out per group in the HTML; the JSON has them all
MAX_VALUES_LISTED = 10
REPORT_VERSION = 1
PRECHECK_TITLE = "Förhandskontroll – inte inskickad"


@dataclass(frozen=True)
class Precheck:
    """Marks a report as a local/in-browser check: nothing was sent or stored.

    ``previous``: what the cross-quarter rules were run against (file names or quarters); empty
    means they did not run, and the report says so instead of implying a full check.
    """

    previous: tuple[str, ...] = ()

    @property
    def rules_run(self) -> list[str]:
        return [code for code in RULES if self.previous or code not in CROSS_QUARTER_RULES]

    @property
    def rules_skipped(self) -> list[str]:
        return [] if self.previous else list(CROSS_QUARTER_RULES)

    def as_dict(self) -> dict[str, Any]:
        return {"title": PRECHECK_TITLE, "submitted": False, "previous": [mask(p) for p in self.previous],
                "rules_run": self.rules_run, "rules_skipped": self.rules_skipped}


def _text(value: Any) -> Any:
    return mask(value) if isinstance(value, str) else value


def _meta(meta: dict | None) -> dict[str, Any]:
    meta = meta or {}
    out = {key: meta.get(key) for key in META_KEYS}
    out["original_name"] = _text(out["original_name"])
    if out["received_at"] is not None:
        out["received_at"] = str(out["received_at"])
    return out


def _issue_dict(issue: Issue) -> dict[str, Any]:
    return {key: _text(value) for key, value in issue.to_dict().items()}


def status_text(result: ValidationResult) -> tuple[str, str]:
    """(Swedish, English) plain-words status shown at the top."""
    if result.status != ACCEPTED:
        return f"{STATUS_SV[REJECTED]} – rätta och skicka igen", "Rejected – correct the file and send it again"
    if result.warnings:
        return f"{STATUS_SV[ACCEPTED]} – med varningar att se över", "Accepted – with warnings to review"
    return STATUS_SV[ACCEPTED], "Accepted"


def render_json(result: ValidationResult, meta: dict | None, precheck: Precheck | None = None) -> str:
    """Stable, machine-readable report (keys in fixed order, one entry per issue)."""
    by_rule = Counter(i.rule for i in result.issues)
    status_sv, status_en = status_text(result)
    doc = {
        "report_version": REPORT_VERSION,
        "submission": _meta(meta),
        "status": result.status,
        "status_sv": status_sv,
        "status_en": status_en,
        "kommunkod": result.kommunkod,
        "period": result.period or (meta or {}).get("period"),
        "n_rows": result.n_rows,
        "file": {"format": result.file_format, "encoding": result.encoding, "delimiter": result.delimiter},
        "counts": {
            "errors": len(result.errors),
            "warnings": len(result.warnings),
            "by_rule": {rule: by_rule[rule] for rule in sorted(by_rule)},
        },
        "issues": [_issue_dict(i) for i in result.issues],
    }
    if precheck is not None:
        doc["precheck"] = precheck.as_dict()
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def terminal_lines(doc: dict[str, Any], *, limit: int = SHOWN_ISSUES, more: str = " (se rapporten)") -> list[str]:
    """A JSON report (``render_json``) in a terminal, as ``sukf upload`` and ``sukf precheck`` print it:
    the status and counts, then the first ``limit`` issues (their messages name row and column)."""
    counts, issues = doc.get("counts", {}), doc.get("issues", [])
    lines = [f"{doc.get('status_sv', doc.get('status', ''))} — {counts.get('errors', 0)} fel, "
             f"{counts.get('warnings', 0)} varningar"]
    for issue in issues[:limit]:
        kind = "FEL" if issue.get("severity") == Severity.ERROR else "varning"
        lines.append(f"  [{kind}] {issue.get('rule', '')}: {mask(str(issue.get('message_sv', '')))}")
    if len(issues) > limit:
        lines.append(f"  … och {len(issues) - limit} till{more}")
    return lines


# --- HTML ------------------------------------------------------------------------------------

@dataclass
class Group:
    """Issues of one rule in one column, shown as one table row."""

    severity: Severity
    rule: str
    column: str | None
    issues: list[Issue] = field(default_factory=list)

    @property
    def rows(self) -> list[int]:
        return sorted({i.row for i in self.issues if i.row is not None})

    @property
    def values(self) -> list[str]:
        return list(dict.fromkeys(i.value for i in self.issues if i.value is not None))


def group_issues(issues: list[Issue]) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for issue in issues:
        key = (issue.severity, issue.rule, issue.column)
        groups.setdefault(key, Group(issue.severity, issue.rule, issue.column)).issues.append(issue)
    return list(groups.values())  # issues arrive sorted: errors first, then by row


def row_ranges(rows: list[int], limit: int = MAX_ROWS_LISTED) -> str:
    """``[2, 3, 4, 7]`` -> ``"2–4, 7"``; after ``limit`` row numbers, "och N till"."""
    parts: list[str] = []
    shown = 0
    i = 0
    while i < len(rows) and shown < limit:
        j = i
        while j + 1 < len(rows) and rows[j + 1] == rows[j] + 1:
            j += 1
        parts.append(str(rows[i]) if i == j else f"{rows[i]}–{rows[j]}")
        shown += j - i + 1
        i = j + 1
    text = ", ".join(parts)
    if i < len(rows):
        text += f" och {len(rows) - i} till (se JSON-rapporten)"
    return text


def _kommun_name(code: str | None) -> str:
    names = municipality_names()
    return f"{code} {names[code]}" if code in names else (code or "–")


def _meta_rows(result: ValidationResult, meta: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) of the file's facts; values masked except the identifiers we generated
    (submission id and sha256 are hex and may hold digit runs that look like a personnummer)."""
    rows = [
        ("Kommun", _text(_kommun_name(result.kommunkod or meta.get("kommunkod")))),
        ("Period", _text(result.period or meta.get("period") or "–")),
        ("Fil", _text(meta.get("original_name") or "–")),
        ("Version", meta.get("version") or "–"),
        ("Mottagen", _text(meta.get("received_at") or "–")),
        ("Inlämnings-id", meta.get("submission_id") or "–"),
        ("Kontrollsumma (SHA-256)", meta.get("sha256") or "–"),
        ("Antal ärenden (rader)", result.n_rows),
        ("Filformat", _text(" ".join(str(x) for x in (result.file_format, result.encoding, result.delimiter) if x)
                            or "–")),
    ]
    return rows


def _severity_sv(severity: Severity) -> str:
    return "Fel" if severity == Severity.ERROR else "Varning"


def _summary(groups: list[Group]) -> list[dict[str, Any]]:
    per_rule: dict[str, list[Group]] = {}
    for g in groups:
        per_rule.setdefault(g.rule, []).append(g)
    return [{"severity": str(RULES[rule].severity), "severity_sv": _severity_sv(RULES[rule].severity),
             "title": RULES[rule].title_sv, "count": sum(len(g.issues) for g in gs),
             "columns": _text(", ".join(g.column for g in gs if g.column) or "–")}
            for rule, gs in per_rule.items()]


def detail_sv(issue: Issue) -> str:
    """The message without its "Rad N, kolumn X: " prefix, which the table shows in its own cells."""
    prefix = location_sv(issue.row, issue.column)
    text = issue.message_sv
    return text[len(prefix) + 2:] if prefix and text.startswith(prefix + ": ") else text


def _rules_list(codes: list[str]) -> str:
    return ", ".join(f"{RULES[c].title_sv} ({c})" for c in codes)


def _problem(group: Group) -> dict[str, Any]:
    spec = RULES[group.rule]
    column = group.column or "–"
    if group.column in BY_NAME:
        column = f"{group.column} ({BY_NAME[group.column].label_sv})"
    values = group.values
    value_text = ", ".join(values[:MAX_VALUES_LISTED]) + (" …" if len(values) > MAX_VALUES_LISTED else "")
    if len(group.issues) == 1:
        what = detail_sv(group.issues[0])
    else:
        what = f"{spec.title_sv} ({len(group.issues)} st). Till exempel: {detail_sv(group.issues[0])}"
    return {"severity": str(spec.severity), "severity_sv": _severity_sv(spec.severity),
            "rows": _text(row_ranges(group.rows) or "hela filen"), "column": _text(column),
            "shown": _text(value_text or "–"), "what": _text(what), "fix": _text(spec.fix_sv)}


def render_html(result: ValidationResult, meta: dict | None, precheck: Precheck | None = None) -> str:
    """A self-contained, Swedish-first page (``templates/report.html``): status in plain words, summary
    per rule, then problems."""
    meta = _meta(meta)
    status_sv, status_en = status_text(result)
    groups = group_issues(result.issues)
    block = None
    if precheck is not None:
        block = {"title": PRECHECK_TITLE, "previous": [_text(p) for p in precheck.previous],
                 "skipped": _rules_list(precheck.rules_skipped), "run": _rules_list(precheck.rules_run),
                 "n_run": len(precheck.rules_run)}
    return render("report.html", period=_text(result.period or meta.get("period") or ""), precheck=block,
                  css_class="bad" if result.status != ACCEPTED else ("warn" if result.warnings else "ok"),
                  status_sv=status_sv, status_en=status_en, n_errors=len(result.errors),
                  n_warnings=len(result.warnings), meta_rows=_meta_rows(result, meta), summary=_summary(groups),
                  problems=[_problem(g) for g in groups]) + "\n"


# --- stored reports ----------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredResult(IssueCounts):
    """A validation outcome read back from its JSON report: what ``render_html`` reads of a
    ``ValidationResult`` (the cases themselves are never in a report)."""

    status: str
    issues: list[Issue]
    kommunkod: str | None
    n_rows: int
    period: str = ""
    file_format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None


def html_of_json(text: str) -> str:
    """The HTML page of a JSON report (``render_json``): the same page ``render_html`` gives for the
    result it was written from (``test_report``: the JSON keeps every field the page shows)."""
    doc = json.loads(text)
    issues = [Issue(Severity(i["severity"]), i["rule"], i["row"], i["column"], i["value"], i["message_sv"],
                    i["message_en"], i["fix_sv"]) for i in doc.get("issues", [])]
    file = doc.get("file") or {}
    result = StoredResult(doc["status"], issues, doc.get("kommunkod"), doc.get("n_rows") or 0,
                          doc.get("period") or "", file.get("format"), file.get("encoding"), file.get("delimiter"))
    block = doc.get("precheck")
    precheck = Precheck(tuple(block.get("previous", ()))) if block else None
    return render_html(result, doc.get("submission"), precheck)  # type: ignore[arg-type]


def stored_json(paths: Paths, submission_id: str) -> str | None:
    """A submission's JSON report: from the register (``Register.report``), or the file an older version
    wrote (``Paths.report``); None before the submission is validated."""
    text = Register(paths).report(submission_id)
    if text is None:
        legacy = paths.report(submission_id, "json")
        text = legacy.read_text(encoding="utf-8") if legacy.is_file() else None
    return text


def stored_html(paths: Paths, submission_id: str) -> str | None:
    """The HTML page of a submission's stored report (None before it is validated)."""
    text = stored_json(paths, submission_id)
    return None if text is None else html_of_json(text)
