"""The publish gate: a candidate vintage is audited, from its files, together with every earlier one.

WHY here and not inside disclosure control: the gate must judge what the public will read — the period
files exactly as ``publish`` writes them — and nothing else (not the mart, not the suppression's
bookkeeping). So it renders the candidate's files with the publisher's own writer, reads them back the
way ``pipeline.release.cells`` reads any vintage, and hands them to the independent LP audit
(``pipeline.release.audit``) with the public population and the earlier vintages.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path

import pandas as pd

from pipeline.keyfigures.population import parse_population
from pipeline.release import kolada, publish, truths
from pipeline.release.audit import Finding, audit
from pipeline.release.cells import _frame, published_cells
from pipeline.settings import Paths


class DisclosureRefused(RuntimeError):
    """The candidate vintage fails the disclosure criterion: it is not published.

    The message names the cells and relations (never a value or a bound)."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        shown = "\n".join(f"  {f.message()}" for f in findings[:10])
        more = f"\n  … och {len(findings) - 10} till" if len(findings) > 10 else ""
        super().__init__(f"Årgången publicerades inte: röjandegranskningen fann {len(findings)} "
                         f"storheter som kan räknas fram för snävt.\n{shown}{more}")


def population_frame(paths: Paths) -> pd.DataFrame:
    """The public population 18+ as the audit reads it (empty when none is installed).

    WHY remembered per file version: a load audits the candidate twice (the second time after the
    derivable cells are published), and parsing and checking the national file costs ≈ 0.07 s each time;
    the file's inode, size and mtime name the version read (installing a file replaces it)."""
    file = paths.population_csv
    if not file.exists():
        return pd.DataFrame([], columns=["kommunkod", "year", "gender", "population"])
    st = file.stat()
    return _population_frame(str(file), st.st_ino, st.st_size, st.st_mtime_ns).copy()


@lru_cache(maxsize=4)
def _population_frame(file: str, _ino: int, _size: int, _mtime_ns: int) -> pd.DataFrame:
    rows = parse_population(Path(file).read_text(encoding="utf-8"))
    return pd.DataFrame(rows, columns=["kommunkod", "year", "gender", "population"])


def candidate_cells(figures: pd.DataFrame, closed_years: set[int]) -> pd.DataFrame:
    """The candidate's cells exactly as its published CSV files will carry them (the publisher's own
    CSV writer, read back by the reader of every vintage)."""
    return _frame([kolada.csv_bytes(rows, preliminary=not kolada.is_final(period, closed_years))
                   for period, rows in kolada.by_period(figures).items()])


def _kommuner(manifest_submissions: list[dict]) -> dict[tuple[str, str], str]:
    return {(str(s.get("kommunkod")), str(s.get("period"))): str(s.get("submission_id"))
            for s in manifest_submissions}


def _reporting(submissions: list[dict]) -> dict[str, set[str]]:
    """period → kommuner with a submission in a vintage's manifest."""
    out: dict[str, set[str]] = {}
    for s in submissions:
        out.setdefault(str(s.get("period")), set()).add(str(s.get("kommunkod")))
    return out


def changed_periods(before: list[dict], after: list[dict]) -> set[tuple[str, str]]:
    """(kommun, period) whose inputs differ between two vintages: a quarter whose submission is new,
    replaced or withdrawn, and the calendar year of each such quarter. Every other kommun × period is known
    to be unchanged — the manifests are public, and a quarter's figures are computed from that quarter's
    submission alone (``int_case_periods``), a year's from the year's quarters."""
    old, new = _kommuner(before), _kommuner(after)
    quarters = {(k, p) for (k, p), sid in new.items() if old.get((k, p)) != sid}
    quarters |= {key for key in old if key not in new}
    return quarters | {(k, p[:4]) for k, p in quarters}


def audit_candidate(paths: Paths, figures: pd.DataFrame, *, submissions: list[dict],
                    closed_years: set[int], report: dict | None = None,
                    years: Collection[str] | None = None, truth: truths.Truth | None = None) -> list[Finding]:
    """Findings of the audit over every earlier vintage plus the candidate (oldest first).

    ``truth`` (the candidate's true values, ``truths.candidate``): the full LP interval attack then runs,
    on the quantities whose true value is 1–4 (the earlier vintages' values from ``truths.load``). Without
    it, or when an earlier vintage has no stored values, only the bound propagation runs (every quantity
    the files fix exactly).

    ``years`` (issue 12, incremental loads): only these calendar years are audited — ``figures`` then holds
    only their periods, and so are the earlier vintages read. Every relation of the audit stays inside one
    calendar year, and the other years' cells are the current vintage's, already audited.
    """
    vintages: list[pd.DataFrame] = []
    manifests: list[list[dict]] = []
    entries = publish.list_vintages(paths)
    for entry in entries:
        vintages.append(published_cells(paths, entry["vintage"], years=years))
        manifest = json.loads((paths.releases / entry["path"] / publish.MANIFEST).read_text(encoding="utf-8"))
        manifests.append(manifest.get("submissions", []))
    vintages.append(candidate_cells(figures, closed_years))
    manifests.append(submissions)
    revised = [set()] + [changed_periods(manifests[i - 1], manifests[i]) for i in range(1, len(manifests))]
    known = truths.load(paths, [entry["vintage"] for entry in entries], years) + [truth]
    # An earlier vintage without stored values (published before the gate kept them) would be judged by the
    # stricter criterion, which nationally refuses harmless narrow intervals: propagation then, as before.
    intervals = truth is not None and all(t is not None for t in known)
    reporting = [_reporting(m) for m in manifests]
    findings = audit(vintages, population_frame(paths), revised=revised, report=report, intervals=intervals,
                     reporting=reporting, truths=known if intervals else None)
    if report is not None:
        report["mode"] = "LP-intervall" if intervals else "bundpropagering"
        report["vintages"] = len(vintages)
    # Vintage numbers as the public knows them: the candidate is the next one.
    return [Finding(v if v >= 0 else len(vintages) - 1, *rest) for v, *rest in
            ((f.vintage, f.quantity, f.municipality, f.period, f.gender, f.relation, f.reason) for f in findings)]
