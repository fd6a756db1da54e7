"""From the dbt mart to a vintage: read key figures, apply disclosure control, publish if anything changed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipeline import cycle_gc
from pipeline.contract.dictionary import RIKET_ID, municipalities
from pipeline.contract.kpis import BY_ID, KPIS, Unit
from pipeline.contract.table_design import TABLE_DESIGN_SV
from pipeline.keyfigures.disclosure import KEY, PUBLISHED, SECONDARY, apply_disclosure
from pipeline.keyfigures.year_inputs import changed_years, year_digests
from pipeline.raw.register import ACCEPTED, Register
from pipeline.release import publish, truths
from pipeline.release.audit import Finding
from pipeline.release.audit_gate import DisclosureRefused, audit_candidate
from pipeline.release.cells import history_cells
from pipeline.release.year_loss import counts_by_year, summary_from_counts
from pipeline.settings import Paths


@dataclass(frozen=True)
class PublishOutcome:
    path: Path | None
    vintage: str | None
    changed: bool
    message: str
    published: int = 0
    suppressed: int = 0
    missing: int = 0
    periods: list[str] = field(default_factory=list)
    change_counts: dict[str, int] = field(default_factory=dict)
    information_loss: dict = field(default_factory=dict)


def read_key_figures(paths: Paths, years: Collection[str] | None = None) -> pd.DataFrame:
    """The mart as dbt left it (read-only: dbt is the only writer of the warehouse); only the periods of
    ``years`` when given."""
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        if years is None:
            return con.execute("select * from main.mart_key_figures").df()
        return con.execute("select * from main.mart_key_figures where left(period, 4) in "
                           "(select unnest(?::varchar[]))", [sorted(years)]).df()
    finally:
        con.close()


def submissions_used(register: Register) -> list[dict]:
    """The accepted versions behind the national dataset: every quarter's current version per kommun."""
    quarters = sorted({s.period for s in register.list(status=ACCEPTED)})
    return [
        {k: getattr(s, k) for k in ("submission_id", "kommunkod", "period", "version", "sha256")}
        for q in quarters for s in sorted(register.current(q).values(), key=lambda s: s.kommunkod or "")
    ]


def changed_submissions(paths: Paths, used: list[dict]) -> list[dict]:
    """Submissions in ``used`` that the current vintage was not built from (the reason for a new one)."""
    current = publish.current_vintage(paths)
    before = set()
    if current is not None:
        before = {s["submission_id"] for s in json.loads((current / publish.MANIFEST).read_text())["submissions"]}
    return [s for s in used if s["submission_id"] not in before]


COUNTED_KPIS = {k.id for k in KPIS if k.unit in (Unit.COUNT, Unit.RATE)}
REPAIR_ROUNDS = 12
"""How often a finding of the audit may be answered by hiding more cells before the vintage is refused."""


def disclose_and_audit(paths: Paths, figures: pd.DataFrame, *, submissions: list[dict],
                       closed_years: set[int], years: Collection[str] | None = None,
                       truth: truths.Truth | None = None) -> tuple[pd.DataFrame, dict]:
    """Disclosure control, then the gate; returns the cells to publish and the audit's report.

    Values published in earlier vintages are facts an intruder has: disclosure control respects them.
    ``DisclosureRefused`` (cells and relations named, never a value) when no repair clears the audit.
    ``years``: ``figures`` holds only these calendar years (an incremental load); facts and audit are
    read for them only (every relation stays inside one calendar year: ``keyfigures.year_inputs``).
    ``truth``: the figures' true values (``truths.candidate``): the gate then runs the full LP audit.
    Runs with the cyclic garbage collector paused (``cycle_gc``: ≈ 0.3 s CPU of a national quarter).
    """
    with cycle_gc.paused():
        return _disclose_and_audit(paths, figures, submissions=submissions, closed_years=closed_years,
                                   years=years, truth=truth)


def _disclose_and_audit(paths: Paths, figures: pd.DataFrame, *, submissions: list[dict], closed_years: set[int],
                        years: Collection[str] | None, truth: truths.Truth | None) -> tuple[pd.DataFrame, dict]:
    report: dict = {}

    def check(disclosed: pd.DataFrame) -> list[Finding]:
        report.clear()
        return audit_candidate(paths, disclosed, submissions=submissions, closed_years=closed_years,
                               report=report, years=years, truth=truth)

    disclosed, repaired = protect_until_clean(figures, history_cells(paths, years), check)
    clean = dict(report)
    disclosed, published = publish_derivable_audited(disclosed, figures, clean.pop("derivable_cells", []), check)
    final = report if published else clean  # a failed second audit overwrote ``report``
    final.pop("derivable_cells", None)
    return disclosed, {**final, "repaired_cells": repaired, "derivable_published": published}


def publish_derivable_audited(disclosed: pd.DataFrame, figures: pd.DataFrame,
                              cells: Collection[tuple[str, str, str, str]],
                              check: Callable[[pd.DataFrame], list[Finding]]) -> tuple[pd.DataFrame, int]:
    """``publish_derivable``, then audited again by ``check`` (the gate judges what is published, always):
    the result and how many cells it published, or ``disclosed`` and 0 if the second audit finds anything
    (it cannot — a value the files fix adds nothing the intruder lacks — but the gate decides, not us)."""
    opened, published = publish_derivable(disclosed, figures, cells)
    if published and not check(opened):
        return opened, published
    return disclosed, 0


def publish_derivable(disclosed: pd.DataFrame, figures: pd.DataFrame,
                      cells: Collection[tuple[str, str, str, str]]) -> tuple[pd.DataFrame, int]:
    """``disclosed`` with the secondary-suppressed ``cells`` published; how many were.

    WHY (issue 9): a hidden cell that the published files already fix exactly (the audit's bound
    propagation or LP, ``report["derivable_cells"]``) protects nothing — the intruder computes it — and
    costs information. Only secondary cells are published this way: a primary cell (1–4 cases) that was
    derivable would be a finding, never a cell to show. Its value comes from the unsuppressed figures.
    """
    if not cells:
        return disclosed, 0
    keys = pd.MultiIndex.from_frame(disclosed[KEY].astype(str))
    wanted = keys.isin(pd.MultiIndex.from_tuples(sorted(cells))) & disclosed["suppression"].eq(SECONDARY).to_numpy()
    values = disclosed[KEY].astype(str).merge(figures[KEY + ["value"]].astype({k: str for k in KEY}), on=KEY,
                                              how="left")["value"].to_numpy()
    wanted &= pd.notna(values)
    if not wanted.any():
        return disclosed, 0
    out = disclosed.copy()
    out.loc[wanted, "status"] = PUBLISHED
    out.loc[wanted, "suppression"] = None
    out.loc[wanted, "value"] = values[wanted]
    return out, int(wanted.sum())


def protect_until_clean(figures: pd.DataFrame, previous: pd.DataFrame | None,
                        check: Callable[[pd.DataFrame], list[Finding]]) -> tuple[pd.DataFrame, int]:
    """``apply_disclosure``, audited by ``check``; returns the clean table and how many cells the repair hid.

    WHY a repair loop after an optimising secondary step: the elimination in
    ``pipeline.keyfigures.secondary`` is exact for the linear relations, and its LP interval step (the
    inequalities between quantities) runs only up to a size; nationally, and for changes whose binding
    constraints are all facts of earlier vintages, the audit may still narrow a quantity.
    Where the independent audit still narrows a quantity, the cell its finding points at is hidden and
    protected as well, and the candidate is audited again. The audit itself stays untouched by this:
    it only ever sees the candidate's files. Raises ``DisclosureRefused`` when the findings remain.
    """
    protect: set[tuple[str, str, str, str]] = set()
    for round_ in range(REPAIR_ROUNDS + 1):
        disclosed = apply_disclosure(figures, previous=previous, protect=protect)
        findings = check(disclosed)
        if not findings:
            return disclosed, len(protect)
        more = repair_cells(findings, disclosed, protect) - protect
        if not more or round_ == REPAIR_ROUNDS:
            # Privacy is a hard rule: when no cell is left to hide (every candidate is a fact of an earlier
            # vintage, seen after a correction of an old quarter) the vintage is refused, never published.
            raise DisclosureRefused(findings)
        protect |= more
    raise AssertionError("unreachable")


def repair_cells(findings: list[Finding], disclosed: pd.DataFrame,
                 tried: set[tuple[str, str, str, str]] | None = None) -> set[tuple[str, str, str, str]]:
    """For each finding, the smallest published cell at its place that carries its quantity (K or M
    for annat/okänt), else the smallest published sibling under the same total, else that total:
    hiding it widens the intruder's interval. Only (kpi, region, period, gender) keys leave this
    function, never a value."""
    pub = disclosed[disclosed["status"].eq("")]
    if tried:  # a cell asked for before and still published is a fact of an earlier vintage: try the next
        keys = pd.MultiIndex.from_frame(pub[["kpi", "municipality", "period", "gender"]].astype(str))
        pub = pub[~keys.isin(pd.MultiIndex.from_tuples(sorted(tried)))]
    size = pd.to_numeric(pub["denominator"].where(pub["kpi"].map(_is_share), pub["numerator"]),
                         errors="coerce").fillna(0)
    pub = pub.assign(_size=size, period=pub["period"].astype(str), municipality=pub["municipality"].astype(str))
    by_place = {k: g for k, g in pub.groupby(["municipality", "period"], sort=False)}
    by_period = {k: g for k, g in pub.groupby("period", sort=False)}
    lan_of = {m.kod: m.lan_id for m in municipalities()}
    chosen: set[tuple[str, str, str, str]] = set()
    for f in findings:
        kpis = _kpis_of(f.quantity)
        if not kpis:
            continue
        genders = ("K", "M") if f.gender == "X" else (f.gender,)
        # annat/okänt and subsets are bounded by the *largest* counts (K ≥ every subset's K): hide those.
        largest = f.gender == "X" or "delmängd" in f.relation
        if largest:
            kpis = kpis | COUNTED_KPIS
        here = by_place.get((f.municipality, f.period))
        pick = _smallest(here, kpis, genders, largest=largest)
        group = lan_of.get(f.municipality, RIKET_ID if f.municipality != RIKET_ID else None)
        if pick is None and group and f.gender == "X":  # kommuner publish only T: their län's K or M
            pick = _smallest(by_place.get((group, f.period)), kpis, genders, largest=largest)
        if pick is None and group:  # nothing left here: a sibling under the same total
            peers = by_period.get(f.period)
            if peers is not None:
                same = peers["municipality"].map(lambda r: lan_of.get(r, RIKET_ID if r != RIKET_ID else None))
                pick = _smallest(peers[same.eq(group) & peers["municipality"].ne(f.municipality)], kpis,
                                 genders, largest=largest)
        if pick is None and group:  # then the total itself
            pick = _smallest(by_place.get((group, f.period)), kpis, genders, largest=largest)
        if pick is not None:
            chosen.add(pick)
    return chosen


def _is_share(kpi: str) -> bool:
    return kpi in BY_ID and BY_ID[kpi].unit is Unit.PERCENT


def _kpis_of(quantity: str) -> set[str]:
    """KPIs whose published cells carry the audit's quantity (by its catalogue condition)."""
    ids = set(re.findall(r"SUKF\d\d", quantity))
    conditions = set()
    for kpi in ids & set(BY_ID):
        k = BY_ID[kpi]
        if "nämnare" in quantity:
            conditions.add(k.denominator)
        if "täljare" in quantity:
            conditions.add(k.numerator)
    if "kön 3" in quantity:
        ids |= {k.id for k in KPIS if k.numerator == "kon = '2'"}
    return ids | {k.id for k in KPIS if k.numerator in conditions or k.denominator in conditions}


def _smallest(cells: pd.DataFrame | None, kpis: set[str], genders: tuple[str, ...], *,
              largest: bool = False) -> tuple[str, str, str, str] | None:
    """The smallest (or largest) matching published cell; ties by id, so the repair is deterministic."""
    if cells is None or cells.empty:
        return None
    hit = cells[cells["kpi"].isin(kpis) & cells["gender"].isin(genders)]
    if hit.empty:
        return None
    hit = hit.assign(_order=-hit["_size"] if largest else hit["_size"])
    row = hit.sort_values(["_order", "kpi", "municipality", "gender"], kind="stable").iloc[0]
    return (str(row["kpi"]), str(row["municipality"]), str(row["period"]), str(row["gender"]))


def publish_national(paths: Paths, *, quarter: str | None = None, allow_empty: bool = False,
                     reason: str = "", full: bool = False) -> PublishOutcome:
    """Disclosure control over the national dataset and, if a published value changed, a new vintage.

    ``quarter`` is the quarter a coordinator loaded: when no municipality has an accepted submission for
    it, nothing is published unless ``allow_empty`` (a load of an empty quarter is almost always a
    mistake, e.g. the wrong quarter typed, and must not silently republish).

    Incremental (issue 12): only the calendar years whose inputs changed since the current vintage
    (``keyfigures.year_inputs``: accepted versions, population, closed, code) are read, disclosed, audited
    and written; the other years' files are the current vintage's. ``full`` redoes every year (the
    reference the tests compare with: both give byte-identical period files, notes and changes).
    """
    register = Register(paths)
    current = publish.current_vintage(paths)
    if quarter and not register.current(quarter) and not allow_empty:
        return PublishOutcome(current, current.name if current else None, False,
                              f"Ingen kommun har en godkänd inlämning för {quarter}: ingen ny årgång publicerades "
                              "(ange --allow-empty för att ändå publicera).")
    used = submissions_used(register)
    closed = register.closed_years()
    # ---- issue 12: which years to redo; the rest is taken over from the current vintage
    digests = year_digests(paths, used, closed)
    manifest = publish.read_manifest(current) if current is not None else {}
    before = None if full or "year_inputs" not in manifest else manifest["year_inputs"]
    years = changed_years(digests, before)
    carry = sorted(set(digests) - set(years)) if before is not None else []
    if current is not None and before is not None and not years:
        return PublishOutcome(current, current.name, False, "Inga publicerade värden ändrades: ingen ny årgång "
                              f"(aktuell är {current.name}).")
    only = years if before is not None else None
    # ----
    figures = read_key_figures(paths, only)
    if figures.empty and not carry:
        return PublishOutcome(current, current.name if current else None, False,
                              "Inga godkända inlämningar finns: inget att publicera.")
    truth: truths.Truth = {}
    if figures.empty:  # the changed years lost every submission: only the carried years remain
        disclosed, audit_report = figures.assign(status=pd.Series(dtype=object),
                                                 suppression=pd.Series(dtype=object)), {}
    else:
        truth = truths.candidate(figures)
        disclosed, audit_report = disclose_and_audit(paths, figures, submissions=used, closed_years=closed,
                                                     years=only, truth=truth)
    changed_subs = changed_submissions(paths, used)
    text = reason or (f"laddning av {quarter}" if quarter else "ompublicering")
    counts_by = {**{y: c for y, c in manifest.get("information_loss", {}).get("counts_by_year", {}).items()
                    if y in carry}, **counts_by_year(disclosed)}
    loss = {**summary_from_counts(counts_by), "audit": audit_report, "counts_by_year": counts_by}
    result = publish.publish_vintage(
        disclosed, paths=paths, submissions=used, closed_years=closed,
        reason={"text": text, "submissions": changed_subs}, information_loss=loss, design=TABLE_DESIGN_SV,
        carry_years=carry, year_inputs=digests,
    )
    if result.changed and result.vintage:
        truths.save(paths, result.vintage, truth)  # restricted: the next gate's LP audit judges this vintage by them
    counts = result.changes.counts() if result.changes else {}
    if result.changed:
        message = f"Ny årgång {result.vintage}: {result.changes.total} ändrade värden ({text})."
    else:
        message = f"Inga publicerade värden ändrades: ingen ny årgång (aktuell är {result.vintage})."
    periods = sorted(publish.read_manifest(result.path)["periods"]) if result.path else []
    return PublishOutcome(result.path, result.vintage, result.changed, message, loss["published"],
                          loss["primary"] + loss["secondary"], loss["missing"], periods, counts, loss)

