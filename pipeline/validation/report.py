"""The validation report: JSON for machines, one self-contained HTML page for the social worker.

Why grouped: a 20 000-row file with one bad column has 20 000 issues. The JSON keeps every one
(the upload client and tests need rows), while the HTML shows one table row per rule × column,
with the affected rows as compact ranges ("2–20001") and at most a few distinct values, so the
page stays readable and small.

Privacy: values are only what ``Issue.value`` allows (never personal), and every free string that
reaches a report (messages, file name) goes through ``personnummer.mask`` as a last line of
defence. Everything in the HTML is escaped.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.contract.dictionary import BY_NAME, municipalities
from pipeline.contract.rule_catalogue import RULES, Severity
from pipeline.raw.register import ACCEPTED, REJECTED, STATUS_SV
from pipeline.validation.case_checks import CROSS_QUARTER_RULES, Issue, location_sv
from pipeline.validation.personnummer import mask
from pipeline.validation.validate import ValidationResult

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


def _e(value: Any, *, masked: bool = True) -> str:
    """HTML-escaped text; masked unless it is an identifier we generated (hashes can hold digit runs)."""
    return html.escape(str(_text(value) if masked else value), quote=True)


def _kommun_name(code: str | None) -> str:
    names = {m.kod: m.namn for m in municipalities()}
    return f"{code} {names[code]}" if code in names else (code or "–")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:70rem;
padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.4rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.status{padding:1rem 1.2rem;border-radius:.4rem;font-size:1.3rem;font-weight:600;margin:1rem 0}
.ok{background:#e3f4e4;border-left:.5rem solid #2e7d32}
.warn{background:#fff4d6;border-left:.5rem solid #b58100}
.bad{background:#fde7e7;border-left:.5rem solid #c62828}
.precheck{background:#e8eefc;border-left:.5rem solid #1a56c4}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.35rem .5rem;
text-align:left;vertical-align:top}th{background:#f2f2f2}.meta th{width:12rem}
.error{color:#b71c1c;font-weight:600}.warning{color:#8a6100;font-weight:600}.small{color:#555;font-size:.9rem}
"""


def _meta_table(result: ValidationResult, meta: dict[str, Any]) -> str:
    rows = [
        ("Kommun", _kommun_name(result.kommunkod or meta.get("kommunkod"))),
        ("Period", result.period or meta.get("period") or "–"),
        ("Fil", meta.get("original_name") or "–"),
        ("Version", meta.get("version") or "–"),
        ("Mottagen", meta.get("received_at") or "–"),
        ("Inlämnings-id", meta.get("submission_id") or "–"),
        ("Kontrollsumma (SHA-256)", meta.get("sha256") or "–"),
        ("Antal ärenden (rader)", result.n_rows),
        ("Filformat", " ".join(str(x) for x in (result.file_format, result.encoding, result.delimiter) if x)
         or "–"),
    ]
    own_ids = {"Inlämnings-id", "Kontrollsumma (SHA-256)"}
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v, masked=k not in own_ids)}</td></tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'


def _severity_sv(severity: Severity) -> str:
    return "Fel" if severity == Severity.ERROR else "Varning"


def _summary_table(groups: list[Group]) -> str:
    per_rule: dict[str, list[Group]] = {}
    for g in groups:
        per_rule.setdefault(g.rule, []).append(g)
    lines = []
    for rule, gs in per_rule.items():
        spec = RULES[rule]
        columns = ", ".join(g.column for g in gs if g.column) or "–"
        count = sum(len(g.issues) for g in gs)
        lines.append(f'<tr><td class="{_e(spec.severity)}">{_e(_severity_sv(spec.severity))}</td>'
                     f"<td>{_e(spec.title_sv)}</td><td>{count}</td><td>{_e(columns)}</td></tr>")
    return ("<table><tr><th>Typ</th><th>Vad</th><th>Antal</th><th>Kolumner</th></tr>"
            + "".join(lines) + "</table>")


def detail_sv(issue: Issue) -> str:
    """The message without its "Rad N, kolumn X: " prefix, which the table shows in its own cells."""
    prefix = location_sv(issue.row, issue.column)
    text = issue.message_sv
    return text[len(prefix) + 2:] if prefix and text.startswith(prefix + ": ") else text


def _rules_list(codes: list[str]) -> str:
    return ", ".join(f"{RULES[c].title_sv} ({c})" for c in codes)


def _precheck_block(precheck: Precheck) -> list[str]:
    parts = [f'<div class="status precheck" role="note">{_e(PRECHECK_TITLE)}</div>',
             "<p>Filen har kontrollerats men <strong>inte</strong> skickats in och ingenting har sparats. "
             "Ladda upp filen för att lämna den.</p>"]
    if precheck.previous:
        parts.append(f"<p>Korskvartalsreglerna kördes mot: {_e(', '.join(precheck.previous))}.</p>")
    else:
        parts.append("<p><strong>Kördes inte</strong> (kräver kommunens tidigare godkända fil, "
                     f"<code>--previous FIL</code>): {_e(_rules_list(precheck.rules_skipped))}.</p>")
    parts.append(f'<details><summary>Regler som kördes ({len(precheck.rules_run)})</summary><p class="small">'
                 f"{_e(_rules_list(precheck.rules_run))}</p></details>")
    return parts


def _problem_row(group: Group) -> str:
    spec = RULES[group.rule]
    rows = row_ranges(group.rows) or "hela filen"
    column = group.column or "–"
    if group.column in BY_NAME:
        column = f"{group.column} ({BY_NAME[group.column].label_sv})"
    values = group.values
    value_text = ", ".join(values[:MAX_VALUES_LISTED]) + (" …" if len(values) > MAX_VALUES_LISTED else "")
    if len(group.issues) == 1:
        what = detail_sv(group.issues[0])
    else:
        what = f"{spec.title_sv} ({len(group.issues)} st). Till exempel: {detail_sv(group.issues[0])}"
    return (f'<tr><td class="{_e(spec.severity)}">{_e(_severity_sv(spec.severity))}</td><td>{_e(rows)}</td>'
            f"<td>{_e(column)}</td><td>{_e(value_text or '–')}</td><td>{_e(what)}</td>"
            f"<td>{_e(spec.fix_sv)}</td></tr>")


def render_html(result: ValidationResult, meta: dict | None, precheck: Precheck | None = None) -> str:
    """A self-contained, Swedish-first page: status in plain words, summary per rule, then problems."""
    meta = _meta(meta)
    status_sv, status_en = status_text(result)
    css_class = "bad" if result.status != ACCEPTED else ("warn" if result.warnings else "ok")
    groups = group_issues(result.issues)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="sv"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Kontrollrapport {_e(result.period or meta.get('period') or '')} – SU-kvinnofrid</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Kontrollrapport för inlämning till SU-kvinnofrid</h1>",
        *(_precheck_block(precheck) if precheck else []),
        f'<div class="status {css_class}" role="status">{_e(status_sv)}</div>',
        f'<p class="small" lang="en">{_e(status_en)}.</p>',
        f"<p>{len(result.errors)} fel och {len(result.warnings)} varningar. "
        + ("Fel måste rättas innan uppgifterna kan användas; varningar är till för att ni ska kontrollera "
           "uppgifterna men hindrar inte inlämningen.</p>"),
        _meta_table(result, meta),
    ]
    if groups:
        parts += ["<h2>Sammanfattning</h2>", _summary_table(groups), "<h2>Problem att rätta</h2>",
                  '<p class="small">Radnumren är desamma som i Excel eller en textredigerare (rubrikraden är '
                  "rad 1, i Excel-mallen rad 2). Värden visas bara när de inte kan vara personuppgifter.</p>",
                  "<table><tr><th>Typ</th><th>Rad</th><th>Kolumn</th><th>Värde</th><th>Vad som är fel</th>"
                  "<th>Hur du rättar</th></tr>",
                  *(_problem_row(g) for g in groups), "</table>"]
    else:
        parts.append("<p>Inga problem hittades.</p>")
    parts.append('<p class="small">En maskinläsbar version med varje problem (även på engelska) finns i '
                 "JSON-rapporten.</p></body></html>")
    return "\n".join(parts) + "\n"
