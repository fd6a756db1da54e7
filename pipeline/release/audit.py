"""Independent disclosure audit: an intruder's interval (LP) attack on everything ever published.

WHY a separate module that shares no code with ``pipeline.keyfigures.disclosure``: the audit is the
gate of the publish step. If suppression and audit used the same model of "what the public knows", a
mistake in that model would be made once and pass silently; written twice, from the public KPI
definitions only, a mistake has to be made twice in the same way. The audit reads nothing but the
published cells (as the public reads them, values rounded to one decimal), the public population and
the public catalogue in ``pipeline.contract.kpis``.

The intruder's model (a linear programme over counts of cases):

* Quantities are counts of cases of a condition of the catalogue in one region × period × gender
  (T, K, M and X = annat/okänt, which is no published cell). Every count/rate KPI's numerator is a
  quantity; so are the numerator and denominator of every share (a linked share's other side follows
  from share × published count: SUKF02 = SUKF18/SUKF01, SUKF10, SUKF03; the shares no count publishes,
  SUKF04–09 and 11–15, are modelled in T only unless a vintage publishes them by gender); SUKF16 adds
  the count of kön 3 (its denominator is K + M + kön 3 of SUKF01).
* Published cells: a count fixes its quantity; a rate gives its count within the rounding interval
  (population is public); a share gives (s ± 0.05) % × denominator ≥/≤ numerator, and is read as the
  set of whole fractions n/d it can be (``_pin_fractions``), which bounds n, d and d − n.
* Public identities: T = K + M + X; every quantity ≤ the number of current cases (all are subsets of
  them); a share's numerator ≤ its denominator; kön 3 ≤ X; län = Σ its submitted kommuner; Riket =
  Σ län; year = Σ its quarters for counts of events dated in the period (year ≥ Σ quarters where a
  member kommun missed a quarter: its late-reported cases count in the year only), and for current
  cases every quarter ≤ year ≤ Σ quarters.
* Releases: every vintage is its own set of variables; the difference of one cell between
  consecutive vintages is a quantity (a year-to-date value differenced, a resubmission's revision).
  With ``revised`` (whose submissions changed, per kommun and period: public in the manifests) the
  cells of every other kommun × period are the same variable in both vintages.

Sensitive quantities examined: every unknown quantity above, the sum of the unknown members of every
additive relation, den − num of every share, year − Σ quarters where that identity is an inequality
(the late cases of a missed quarter), and every cross-vintage difference. The criterion
(KEY_FIGURES.md): a quantity whose feasible interval meets 1–4 must span ≥ 5 integers and contain 0
or a value ≥ 5 (for a difference: 0 or a magnitude ≥ 5). The LP relaxation is the intruder's tool, as
in τ-ARGUS's audit; each target is first tried against a few random-direction solutions (inner
bounds, cheap), and only targets those cannot clear are solved exactly (min and max).

A finding never carries the bounds themselves: the reason is stated without revealing a small number.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from pipeline.contract.dictionary import RIKET_ID, municipalities
from pipeline.contract.kpis import KPIS, Unit
from pipeline.highs_solver import new_highs

GENDERS = ("T", "K", "M", "X")
ALL_CASES = "true"
KON3 = "kön 3"
BIG = 1e7
"""Upper bound on any count (keeps every LP bounded; far above any real count)."""
EPS = 1e-6
MIN_CASES = 5
WITNESSES = 12
BLOCK_MIN = 100_000
"""Components with more free variables than this are first attacked block by block (one län, or the
län and Riket level), with the rest of the component held at one feasible point. WHY so high: since the
counts behind the ratio-only shares are in the model (stop 14), a block held at one point leaves most
targets to the whole component — two vintages of a national year: 126 s in blocks, 17 s without."""

_COUNTED = {k.id: k.numerator for k in KPIS if k.unit in (Unit.COUNT, Unit.RATE)}
_COUNT_QTYS = set(_COUNTED.values())
_SHARES: dict[str, tuple[str, str]] = {}
"""Every share of cases: id → (numerator, denominator) quantities."""
_SHARE_OF_MEN: set[str] = set()
for _k in KPIS:
    if _k.unit is not Unit.PERCENT or _k.denominator is None:
        continue
    if _k.numerator == "kon = '2'" and _k.denominator == "kon in ('1', '2', '3')":
        _SHARE_OF_MEN.add(_k.id)  # M / (K + M + kön 3) of all current cases
    else:
        _SHARES[_k.id] = (_k.numerator, _k.denominator)
_LINKED = {kpi: pair for kpi, pair in _SHARES.items() if _COUNT_QTYS & set(pair)}
"""Shares whose numerator or denominator is a published count (SUKF02, SUKF03, SUKF10)."""
QUANTITIES = sorted(_COUNT_QTYS | {q for pair in _SHARES.values() for q in pair})
_GENDERED = _COUNT_QTYS | {q for pair in _LINKED.values() for q in pair} | {ALL_CASES}
"""Quantities modelled by gender in every vintage. The others (the counts behind the shares no count
publishes, SUKF04–09/11–15) get K, M and X only where some vintage publishes such a share by gender:
published in total only, their gender parts are bounded by nothing but the case counts, which the T part
already respects, so leaving them out loses nothing and keeps the LP small."""
FRACTION_MAX_DEN = 2_000
"""Largest denominator for which a rounded share is read as the set of fractions it can be: from 1 000
cases on every denominator fits a value rounded to 0.1 %, and the LP's share rows say the rest."""
_NAME: dict[str, str] = {}
for _k in KPIS:
    for _q, _role in ((_k.numerator, "täljare"), (_k.denominator, "nämnare")):
        if _q in QUANTITIES and _q not in _NAME:
            _NAME[_q] = f"{_k.id} {_role}"


def _dated(q: str) -> bool:
    return "opened_in_period" in q or "closed_in_period" in q


@dataclass(frozen=True)
class Finding:
    """One quantity the intruder can narrow down too far. Never carries the value or its bounds."""

    vintage: int
    quantity: str
    municipality: str
    period: str
    gender: str
    relation: str
    reason: str

    def message(self) -> str:
        return (f"Röjanderisk i version {self.vintage}: {self.quantity} för {self.municipality} {self.period} "
                f"kön {self.gender} ({self.reason}) via {self.relation}.")


class _Lp:
    """Variables with bounds, sparse rows lo ≤ a·x ≤ hi, each row labelled with its relation."""

    def __init__(self, changed: dict[int, set] | None = None, kommuner: Collection[str] = ()) -> None:
        self.changed = changed or {}
        """Vintage → what changed since the vintage before (public in the manifests): kommuner (every
        period) and (kommun, period) pairs. Every other kommun × period's quantity is one variable in both
        vintages."""
        self.kommuner = set(kommuner)
        self.index: dict[tuple, int] = {}
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.rows: list[tuple[dict[int, float], float, float, str]] = []
        self.hidden: set[int] = set()  # count quantities of suppressed count/rate cells (for the report)
        self.fractions: list[tuple[int, int, float, float, str]] = []
        """(numerator, denominator, lowest share, highest share, kpi) of every published share: read as
        the fractions it can be (``_pin_fractions``)."""
        self.hidden_cells: list[tuple[int, tuple[str, str, str, str], tuple[int, ...]]] = []
        """(vintage, (kpi, region, period, gender), the variables that fix its value) of every suppressed cell."""

    def var(self, key: tuple) -> int:
        i = self.index.get(key)
        if i is None:
            v, _, region, period, _ = key
            changed = self.changed.get(v)
            if (changed is not None and region in self.kommuner and region not in changed
                    and (region, period) not in changed):
                i = self.index.get((v - 1, *key[1:]))  # the same count as in the vintage before
            if i is None:
                i = len(self.lb)
                self.lb.append(0.0)
                self.ub.append(BIG)
            self.index[key] = i
        return i

    def bound(self, i: int, lo: float, hi: float) -> None:
        lo, hi = math.ceil(lo - EPS), math.floor(hi + EPS)  # counts are integers
        self.lb[i], self.ub[i] = max(self.lb[i], lo), min(self.ub[i], hi)

    def row(self, coef: dict[int, float], lo: float, hi: float, label: str) -> None:
        self.rows.append((coef, lo, hi, label))


def _population(population: pd.DataFrame | None) -> dict[tuple[str, int, str], float]:
    if population is None or population.empty:
        return {}
    return {(str(k), int(y), str(g)): float(p) for k, y, g, p in
            zip(population["kommunkod"].tolist(), population["year"].tolist(), population["gender"].tolist(),
                population["population"].tolist(), strict=True)}


def _build_vintage(lp: _Lp, v: int, cells: pd.DataFrame, pop: dict, lan_of: dict[str, str],
                   reporting: dict[str, set[str]] | None = None, gendered: Collection[str] = _GENDERED) -> None:
    cells = cells.assign(period=cells["period"].astype(str), municipality=cells["municipality"].astype(str))
    cells = cells[cells["status"].isin(["", "..", "-"])]
    live = cells[cells["status"] != "-"]
    modelled = set(zip(live["municipality"].tolist(), live["period"].tolist(), strict=True))
    periods = sorted({p for _, p in modelled})
    kommuner_at: dict[str, list[str]] = defaultdict(list)
    regions_at: dict[str, list[str]] = defaultdict(list)
    for region, period in sorted(modelled):
        regions_at[period].append(region)
        if region in lan_of:
            kommuner_at[period].append(region)

    def x(q: str, region: str, period: str, g: str) -> int:
        return lp.var((v, q, region, period, g))

    def genders(q: str) -> tuple[str, ...]:
        return GENDERS if q in gendered else ("T",)

    for region, period in sorted(modelled):  # structure of every modelled region × period
        for q in QUANTITIES:
            if q in gendered:
                lp.row({x(q, region, period, "T"): 1, x(q, region, period, "K"): -1,
                        x(q, region, period, "M"): -1, x(q, region, period, "X"): -1}, 0, 0,
                       "T = K + M + annat/okänt")
            for g in genders(q):
                if q != ALL_CASES:
                    lp.row({x(q, region, period, g): 1, x(ALL_CASES, region, period, g): -1}, -BIG, 0,
                           "delmängd av aktuella ärenden")
        for num, den in _SHARES.values():
            for g in genders(num):
                lp.row({x(num, region, period, g): 1, x(den, region, period, g): -1}, -BIG, 0,
                       "täljare ≤ nämnare")
        if _SHARE_OF_MEN:
            lp.row({x(KON3, region, period, "T"): 1, x(ALL_CASES, region, period, "X"): -1}, -BIG, 0,
                   "kön 3 ≤ annat/okänt")

    for period in periods:  # geography
        members: dict[str, list[str]] = defaultdict(list)
        for kod in kommuner_at[period]:
            members[lan_of[kod]].append(kod)
        lans = [r for r in regions_at[period] if r not in lan_of and r != RIKET_ID]
        for q in QUANTITIES:
            for g in genders(q):
                for lan in lans:
                    if members.get(lan):
                        coef = {x(q, lan, period, g): 1.0}
                        coef.update({x(q, k, period, g): -1.0 for k in members[lan]})
                        lp.row(coef, 0, 0, "län = Σ kommuner")
                if (RIKET_ID, period) in modelled and lans:
                    coef = {x(q, RIKET_ID, period, g): 1.0}
                    coef.update({x(q, lan, period, g): -1.0 for lan in lans})
                    lp.row(coef, 0, 0, "Riket = Σ län")

    by_region_year: dict[tuple[str, str], list[str]] = defaultdict(list)  # periods
    for region, period in modelled:
        by_region_year[(region, period[:4])].append(period)
    # A län's (Riket's) dated year equals the sum of its quarters only when every member kommun of the year
    # reported all four quarters: a case opened in a quarter its kommun never submitted is in the year (a
    # later quarter's file carries it) but in no quarter. So a kommun that misses a quarter makes the
    # year ≥ Σ quarters, at its own level and at every level above it.
    gaps: set[tuple[str, str]] = set()  # (län or Riket, year) with a member kommun missing a quarter
    for (region, year), ps in by_region_year.items():
        if region in lan_of and year in ps and len([p for p in ps if p != year]) < 4:
            gaps.update({(lan_of[region], year), (RIKET_ID, year)})
    for (region, year), ps in sorted(by_region_year.items()):
        quarters = sorted(p for p in ps if p != year)
        if year not in ps or not quarters:
            continue
        complete = len(quarters) == 4 and (region, year) not in gaps
        for q in QUANTITIES:
            for g in genders(q):
                y = x(q, region, year, g)
                if _dated(q):
                    coef = {y: 1.0, **{x(q, region, p, g): -1.0 for p in quarters}}
                    lp.row(coef, 0, 0 if complete else BIG, "år = Σ kvartal")
                elif q == ALL_CASES:
                    for p in quarters:
                        lp.row({x(q, region, p, g): 1, y: -1}, -BIG, 0, "kvartal ≤ år")
                    if complete:
                        lp.row({y: 1.0, **{x(q, region, p, g): -1.0 for p in quarters}}, -BIG, 0, "år ≤ Σ kvartal")

    def population_of(region: str, period: str, g: str) -> float | None:
        year = int(period[:4])
        if region in lan_of:
            members = [region]
        else:
            scope = [k for k in kommuner_at[period]] or [k for k in kommuner_at.get(str(year), [])]
            if reporting:  # who reported is public (the manifest lists the submissions)
                scope = sorted(reporting.get(period, set()) | {k for p, ks in reporting.items()
                                                                 if len(period) == 4 and p[:4] == period for k in ks})
            if not scope:
                scope = list(lan_of)
            members = [k for k in scope if region == RIKET_ID or lan_of[k] == region]
        values = [pop.get((k, year, "T" if g == "T" else g)) for k in members]
        if not values or any(p is None for p in values):
            return None
        return float(sum(values))

    hidden = live[live["status"] == ".."]
    for kpi, region, period, g in zip(hidden["kpi"].tolist(), hidden["municipality"].tolist(),
                                      hidden["period"].tolist(), hidden["gender"].tolist(), strict=True):
        if kpi in _COUNTED:
            lp.hidden.add(x(_COUNTED[kpi], region, period, g))
            needs: tuple[int, ...] = (x(_COUNTED[kpi], region, period, g),)
        elif kpi in _SHARES:
            needs = tuple(x(q, region, period, g) for q in _SHARES[kpi])
        elif kpi in _SHARE_OF_MEN and g == "T":
            needs = (x(ALL_CASES, region, period, "K"), x(ALL_CASES, region, period, "M"), x(KON3, region, period, "T"))
        else:
            continue
        lp.hidden_cells.append((v, (str(kpi), region, period, str(g)), needs))
    published = live[live["status"] == ""]
    for kpi, region, period, g, value in zip(published["kpi"].tolist(), published["municipality"].tolist(),
                                             published["period"].tolist(), published["gender"].tolist(),
                                             published["value"].tolist(), strict=True):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        value = float(value)
        if kpi in _COUNTED:
            i = x(_COUNTED[kpi], region, period, g)
            unit = next(k.unit for k in KPIS if k.id == kpi)
            if unit is Unit.COUNT:
                lp.bound(i, value, value)
            else:
                p = population_of(region, period, g)
                if p:
                    lp.bound(i, (value - 0.05) * p / 10_000, (value + 0.05) * p / 10_000)
        elif kpi in _SHARES:
            num, den = _SHARES[kpi]
            n, d = x(num, region, period, g), x(den, region, period, g)
            lp.row({n: 1.0, d: -(value + 0.05) / 100}, -BIG, 0, f"{kpi} × nämnare")
            lp.row({n: 1.0, d: -(value - 0.05) / 100}, 0, BIG, f"{kpi} × nämnare")
            lp.fractions.append((n, d, (value - 0.05) / 100, (value + 0.05) / 100, kpi))
        elif kpi in _SHARE_OF_MEN:
            n = x(ALL_CASES, region, period, "M")
            den = {x(ALL_CASES, region, period, "K"): 1.0, n: 1.0, x(KON3, region, period, "T"): 1.0}
            hi = {i: -c * (value + 0.05) / 100 for i, c in den.items()}
            lo = {i: -c * (value - 0.05) / 100 for i, c in den.items()}
            hi[n] += 1.0
            lo[n] += 1.0
            lp.row(hi, -BIG, 0, f"{kpi} (män av K + M + kön 3)")
            lp.row(lo, 0, BIG, f"{kpi} (män av K + M + kön 3)")


@dataclass
class _Target:
    coef: dict[int, float]
    signed: bool
    vintage: int
    quantity: str
    region: str
    period: str
    gender: str
    relation: str


def _criterion(lo: float, hi: float, signed: bool) -> str | None:
    """None when protected; else a reason in Swedish that reveals no number."""
    lo_i, hi_i = math.ceil(lo - EPS), math.floor(hi + EPS)
    touches = lo_i <= 4 and hi_i >= 1 or (signed and lo_i <= -1 and hi_i >= -4)
    if not touches:
        return None
    if hi_i == lo_i:
        return "exakt beräkningsbar"
    if hi_i - lo_i < 4:
        return "intervallet spänner färre än 5 heltal"
    if not (lo_i <= 0 <= hi_i or hi_i >= 5 or (signed and lo_i <= -5) or (not signed and lo_i <= 0)):
        return "intervallet innehåller varken 0 eller ett värde ≥ 5"
    return None


def _inner_protected(lo: float, hi: float, signed: bool) -> bool:
    lo_i, hi_i = math.ceil(lo - EPS), math.floor(hi + EPS)
    return hi_i - lo_i >= 4 and (lo_i <= 0 <= hi_i or hi_i >= 5 or (signed and lo_i <= -5)
                                 or (not signed and lo_i <= 0))


def truth_values(figures: pd.DataFrame) -> dict[tuple[str, str, str, str], float]:
    """The true value of every quantity of the intruder's model, from a vintage's *unsuppressed* figures
    (mart-shaped: kpi, municipality, period, gender, numerator, denominator): (quantity, region, period,
    gender) → count, with X = T − K − M and kön 3 = SUKF16's denominator − K − M.

    WHY the audit may look at the truth: the criterion (issue 9) protects quantities of 1–4 cases. A
    quantity whose true value is 0 or ≥ 5 reveals nobody however narrow its interval (and a cell that
    is 0 or ≥ 5 should not be hidden at all). Read from the mart's numerators with this module's own
    model, never from the suppression's bookkeeping; the findings still never carry a value."""
    counts: dict[tuple[str, str, str, str], float] = {}
    frame = figures[["kpi", "municipality", "period", "gender", "numerator", "denominator"]]
    num = pd.to_numeric(frame["numerator"], errors="coerce").to_numpy(dtype=float).tolist()
    den = pd.to_numeric(frame["denominator"], errors="coerce").to_numpy(dtype=float).tolist()
    men_den: dict[tuple[str, str], float] = {}
    for kpi, region, period, g, n, d in zip(frame["kpi"].tolist(), frame["municipality"].astype(str).tolist(),
                                            frame["period"].astype(str).tolist(), frame["gender"].tolist(), num, den,
                                            strict=True):
        if kpi in _COUNTED and not math.isnan(n):
            counts.setdefault((_COUNTED[kpi], region, period, g), n)
        elif kpi in _SHARES:
            q_num, q_den = _SHARES[kpi]
            if not math.isnan(n):
                counts.setdefault((q_num, region, period, g), n)
            if not math.isnan(d):
                counts.setdefault((q_den, region, period, g), d)
        elif kpi in _SHARE_OF_MEN and g == "T" and not math.isnan(d):
            men_den[(region, period)] = d
    for (q, region, period, g), t in list(counts.items()):
        if g != "T":
            continue
        k, m = counts.get((q, region, period, "K")), counts.get((q, region, period, "M"))
        if k is not None and m is not None:
            counts[(q, region, period, "X")] = t - k - m
    for (region, period), d in men_den.items():
        k, m = counts.get((ALL_CASES, region, period, "K")), counts.get((ALL_CASES, region, period, "M"))
        if k is not None and m is not None:
            counts[(KON3, region, period, "T")] = d - k - m
    return counts


def _sensitive(targets: list[_Target], key_of: dict[int, tuple], truths: Sequence[dict | None]) -> list[_Target]:
    """The targets whose true value is 1–4 cases (a difference: 1–4 in magnitude) or unknown."""
    kept = []
    for t in targets:
        value = 0.0
        for i, c in t.coef.items():
            v, *key = key_of[i]
            truth = truths[v] if v < len(truths) else None
            x = truth.get(tuple(key)) if truth is not None else None
            if x is None:
                value = math.nan
                break
            value += c * x
        if math.isnan(value) or 1 - EPS <= abs(value) < MIN_CASES - EPS:
            kept.append(t)
    return kept


def audit(vintages: Sequence[pd.DataFrame], population: pd.DataFrame | None = None, *,
          revised: Sequence[Collection[str]] | None = None, report: dict | None = None,
          intervals: bool = True, reporting: Sequence[dict[str, set[str]]] | None = None,
          truths: Sequence[dict | None] | None = None) -> list[Finding]:
    """Every quantity in ``vintages`` (oldest first, the candidate last) that the intruder pins down.

    ``revised[i]`` (optional) lists the kommuner, or (kommun, period) pairs, whose inputs changed between
    vintage i−1 and i (``audit_gate.changed_periods``); all other kommuner's cells of those periods are then
    known to the intruder to be unchanged. An empty list means no finding:
    publishing is allowed. ``intervals=False`` runs only the bound propagation (every quantity the
    published files fix exactly, through chains of identities and bounds) and no LP: minutes become
    seconds for a national vintage, at the price of not seeing narrow-but-inexact intervals.
    ``reporting[i]`` (optional): period → kommuner that reported, per vintage (public in the manifest);
    without it the population of a län or Riket is that of the kommuner with cells, else of all.
    ``truths[i]`` (optional, ``truth_values`` of vintage i's unsuppressed figures): only quantities whose
    true value is 1–4 cases are then examined — the contract's criterion. Without it (the default, and
    for a vintage whose truth is None) every quantity whose interval meets 1–4 is, which is stricter:
    it also flags narrow intervals around a true 0 or ≥ 5.
    """
    lan_of = {m.kod: m.lan_id for m in municipalities()}
    pop = _population(population)
    changed = ({v: set(revised[v]) if v < len(revised) else set() for v in range(1, len(vintages))}
               if revised is not None else None)
    lp = _Lp(changed, lan_of)
    by_gender = set().union(*(set(c.loc[c["gender"].ne("T"), "kpi"]) for c in vintages)) if vintages else set()
    gendered = _GENDERED | {q for kpi in by_gender & set(_SHARES) for q in _SHARES[kpi]}
    for v, cells in enumerate(vintages):
        _build_vintage(lp, v, cells, pop, lan_of, reporting[v] if reporting and v < len(reporting) else None,
                       gendered)
    lb, ub = _presolve(lp)
    if (lb > ub + EPS).any():
        return [Finding(len(vintages) - 1, "publicerade värden", "-", "-", "-", "motsägelsefria villkor",
                        "de publicerade värdena är inbördes motsägelsefulla")]
    targets = _targets(lp, len(vintages), lb, ub)
    if truths is not None:
        targets = _sensitive(targets, {i: k for k, i in lp.index.items()}, truths)
    exact: set[int] = set()
    if intervals:
        findings = _solve(lp, lb, ub, targets, exact, lan_of)
    else:
        findings = _propagated(targets, lb, ub, exact)
    if report is not None:
        report["hidden_count_cells"] = len(lp.hidden)
        report["hidden_exact"] = sum(1 for i in lp.hidden if lb[i] >= ub[i] or i in exact)
        # The candidate's hidden cells whose every quantity the files fix (never their values): hiding them
        # protects nothing, the publish step may publish them (``release.from_warehouse``).
        report["derivable_cells"] = sorted(key for v, key, needs in lp.hidden_cells if v == len(vintages) - 1
                                           and all(lb[i] >= ub[i] or i in exact for i in needs))
    return findings


def _propagated(targets: list[_Target], lb: np.ndarray, ub: np.ndarray, exact: set[int]) -> list[Finding]:
    """Findings among targets that bound propagation alone fixes (all their variables fixed)."""
    findings = []
    for target in targets:
        if all(lb[i] >= ub[i] for i in target.coef):
            value = sum(c * lb[i] for i, c in target.coef.items())
            if len(target.coef) == 1:
                exact.add(next(iter(target.coef)))
            reason = _criterion(value, value, target.signed)
            if reason:
                findings.append(_finding(target, reason))
    return findings


def _presolve(lp: _Lp) -> tuple[np.ndarray, np.ndarray]:
    """Bound propagation: a row with one unknown bounds it (rounded to integers, counts are whole), which
    may fix it and make further rows single; and every published share read as the fractions it can be
    (``_pin_fractions``), whose bounds propagate in turn. Only tightens what the intruder can derive
    anyway; it keeps the LPs small (a published T, K and M fix X without any solve)."""
    lb, ub = np.array(lp.lb, dtype=float), np.array(lp.ub, dtype=float)
    active = list(range(len(lp.rows)))
    complements: dict[tuple[int, int], tuple[float, float, str]] = {}
    while True:
        active = _propagate(lp, lb, ub, active)
        if not _pin_fractions(lp, lb, ub, complements):
            break
    for (n, d), (lo, hi, kpi) in sorted(complements.items()):
        lp.row({d: 1.0, n: -1.0}, lo, hi, f"{kpi} som bråk")
    return lb, ub


def _propagate(lp: _Lp, lb: np.ndarray, ub: np.ndarray, active: list[int]) -> list[int]:
    """Single-unknown rows to a fixed point (in place); returns the rows that may still bound something."""
    changed = True
    while changed:
        changed = False
        keep = []
        for r in active:
            coef, lo, hi, _ = lp.rows[r]
            unknown = [i for i in coef if lb[i] < ub[i]]
            if len(unknown) > 1:
                keep.append(r)
                continue
            if not unknown:
                continue
            i = unknown[0]
            rest = sum(c * lb[j] for j, c in coef.items() if j != i)
            c = coef[i]
            a, b = (lo - rest) / c, (hi - rest) / c
            if c < 0:
                a, b = b, a
            new_lo = max(lb[i], math.ceil(a - EPS)) if a > -BIG / 2 else lb[i]
            new_hi = min(ub[i], math.floor(b + EPS)) if b < BIG / 2 else ub[i]
            if new_lo != lb[i] or new_hi != ub[i]:
                lb[i], ub[i] = new_lo, new_hi
                changed = True
            if lb[i] < ub[i]:
                keep.append(r)  # still a bound row; kept so the LP sees it (cheap)
        active = keep
    return active


def _pin_fractions(lp: _Lp, lb: np.ndarray, ub: np.ndarray,
                   complements: dict[tuple[int, int], tuple[float, float, str]]) -> bool:
    """Read each published share as the set of fractions n/d it can be, given the bounds of n and d
    (in place); True if a bound moved.

    WHY (red team, stop 13): counts are whole numbers, which the LP relaxation forgets. A share rounded
    to 0.1 % on few cases fits few fractions — 16.1 % with at most 32 cases can only be 5/31 — so n, d
    and d − n are pinned far tighter than the share's two LP rows say, and subtracting such pinned counts
    (T − K, a län minus its kommuner) is how the red team recovered small hidden counts. The bounds of
    n, d and d − n over the fitting fractions are what the intruder knows; the LP then works from them.
    A published share has d ≥ 1 (a share of no cases is no value)."""
    moved = False
    for n, d, low, high, kpi in lp.fractions:
        d_lo, d_hi = max(lb[d], lb[n], 1.0), min(ub[d], BIG)
        if d_hi - d_lo > FRACTION_MAX_DEN or d_hi < d_lo:
            continue
        ds = np.arange(d_lo, d_hi + 1)
        n_min = np.maximum(np.ceil(low * ds - 1e-9), lb[n])
        n_max = np.minimum(np.minimum(np.floor(high * ds + 1e-9), ub[n]), ds)
        fits = n_min <= n_max
        if not fits.any():
            continue  # contradictory files: the LP reports them
        ds, n_min, n_max = ds[fits], n_min[fits], n_max[fits]
        bounds = (float(ds[0]), float(ds[-1]), float(n_min.min()), float(n_max.max()))
        if bounds != (lb[d], ub[d], lb[n], ub[n]):
            lb[d], ub[d], lb[n], ub[n] = bounds
            moved = True
        complements[(n, d)] = (float((ds - n_max).min()), float((ds - n_min).max()), kpi)
    return moved


def _describe(lp: _Lp) -> tuple[dict[int, tuple], dict[int, set[str]]]:
    key_of = {i: k for k, i in lp.index.items()}
    relations: dict[int, set[str]] = defaultdict(set)
    for coef, _, _, label in lp.rows:
        for i in coef:
            relations[i].add(label)
    return key_of, relations


def _targets(lp: _Lp, n_vintages: int, lb: np.ndarray, ub: np.ndarray) -> list[_Target]:
    key_of, relations = _describe(lp)
    fixed = lb >= ub
    targets = []
    for i, (v, q, region, period, g) in key_of.items():
        if not fixed[i]:
            targets.append(_Target({i: 1.0}, False, v, _NAME.get(q, q), region, period, g,
                                   "; ".join(sorted(relations[i]))))
    for coef, lo, hi, label in lp.rows:  # the unknown part of every additive identity
        if label == "år = Σ kvartal" and lo != hi:  # a kommun missed a quarter: year − Σ quarters, its late cases
            total = next(i for i, c in coef.items() if c > 0)
            v, q, region, period, g = key_of[total]
            targets.append(_Target(dict(coef), False, v, f"{_NAME.get(q, q)} år − Σ kvartal", region, period, g,
                                   "år − Σ kvartal (en kommun saknar ett kvartal)"))
            continue
        if lo != hi or label not in ("T = K + M + annat/okänt", "län = Σ kommuner", "Riket = Σ län", "år = Σ kvartal"):
            continue
        free = {i: -c for i, c in coef.items() if c < 0 and not fixed[i]}
        if len(free) >= 2:
            total = next(i for i, c in coef.items() if c > 0)
            v, q, region, period, g = key_of[total]
            targets.append(_Target(free, False, v, _NAME.get(q, q), region, period, g,
                                   f"summan av dolda delar i {label}"))
    shares_of: dict[str, list[tuple[str, str]]] = defaultdict(list)  # denominator → (kpi, numerator)
    for kpi, (num, den) in _SHARES.items():
        shares_of[den].append((kpi, num))
    for (v, q, region, period, g), i in list(lp.index.items()):  # complements of shares: den − num
        for kpi, num in shares_of.get(q, ()):
            j = lp.index.get((v, num, region, period, g))
            if j is not None:
                targets.append(_Target({i: 1.0, j: -1.0}, False, v, f"{kpi} nämnare − täljare", region, period,
                                       g, f"{kpi}: andel × nämnare"))
    for (v, q, region, period, g), i in lp.index.items():  # differences between consecutive vintages
        if v == 0:
            continue
        j = lp.index.get((v - 1, q, region, period, g))
        if j is not None and j != i:
            targets.append(_Target({i: 1.0, j: -1.0}, True, v, f"ändring av {_NAME.get(q, q)}", region, period, g,
                                   "skillnad mellan versioner"))
    unique: dict[tuple, _Target] = {}  # an unchanged kommun's relations are the same in both vintages
    for target in targets:
        unique.setdefault((target.signed, *sorted(target.coef.items())), target)
    return list(unique.values())


def _solve(lp: _Lp, lb: np.ndarray, ub: np.ndarray, targets: list[_Target], exact: set[int],
           lan_of: dict[str, str]) -> list[Finding]:
    n = len(lb)
    free = lb < ub
    # Rows as a sparse matrix; fixed variables move into the row bounds.
    r_idx, c_idx, vals, row_lo, row_hi = [], [], [], [], []
    for r, (coef, lo, hi, _) in enumerate(lp.rows):
        for i, c in coef.items():
            r_idx.append(r)
            c_idx.append(i)
            vals.append(c)
        row_lo.append(lo)
        row_hi.append(hi)
    a = csr_matrix((vals, (r_idx, c_idx)), shape=(len(lp.rows), n))
    shift = a @ np.where(free, 0.0, lb)
    row_lo_arr, row_hi_arr = np.array(row_lo) - shift, np.array(row_hi) - shift
    a_free = a[:, np.flatnonzero(free)].tocsr()
    free_ids = np.flatnonzero(free)
    local = np.full(n, -1)
    local[free_ids] = np.arange(len(free_ids))
    # Components of the free variables: two variables are linked when a row contains both.
    incidence = a_free.copy()
    incidence.data[:] = 1
    graph = (incidence.T @ incidence).tocsr()
    n_comp, comp = connected_components(graph, directed=False) if len(free_ids) else (0, np.array([], int))
    rows_of: dict[int, list[int]] = defaultdict(list)
    coo = a_free.tocoo()
    seen_row: set[int] = set()
    for r, c in zip(coo.row, coo.col, strict=True):
        if r not in seen_row:
            seen_row.add(r)
            rows_of[int(comp[c])].append(int(r))
    # Rows without free variables must hold for the published values (else the files contradict).
    constant_rows = np.setdiff1d(np.arange(a.shape[0]), np.fromiter(seen_row, int, len(seen_row)))
    findings: list[Finding] = []
    if len(constant_rows) and ((row_lo_arr[constant_rows] > EPS).any() or (row_hi_arr[constant_rows] < -EPS).any()):
        findings.append(Finding(-1, "publicerade värden", "-", "-", "-", "motsägelsefria villkor",
                                "de publicerade värdena uppfyller inte de offentliga sambanden"))
    by_comp: dict[int, list[tuple[int, dict[int, float]]]] = defaultdict(list)
    constants = np.zeros(len(targets))
    for t, target in enumerate(targets):
        parts: dict[int, dict[int, float]] = defaultdict(dict)
        for i, c in target.coef.items():
            if free[i]:
                parts[int(comp[local[i]])][int(local[i])] = c
            else:
                constants[t] += c * lb[i]
        for k, part in parts.items():
            by_comp[k].append((t, part))
    comp_targets: dict[int, list[int]] = defaultdict(list)
    for k, items in by_comp.items():
        for t, _ in items:
            comp_targets[t].append(k)
    solvers: dict[int, tuple[highspy.Highs, np.ndarray]] = {}
    inner_lo: dict[tuple[int, int], float] = {}
    inner_hi: dict[tuple[int, int], float] = {}
    region_of = {i: key[2] for key, i in lp.index.items()}
    for k in sorted(by_comp):
        cols = np.flatnonzero(comp == k)
        rows = np.array(sorted(rows_of[k]), dtype=int)
        a_comp = a_free[rows][:, cols].tocsr()
        h = _highs(a_comp, row_lo_arr[rows], row_hi_arr[rows], lb[free_ids[cols]], ub[free_ids[cols]])
        position = np.full(len(free_ids), -1)
        position[cols] = np.arange(len(cols))
        solvers[k] = (h, position)
        signed = [targets[t].signed for t, _ in by_comp[k]]
        if len(cols) > BLOCK_MIN:
            blocks = [_block_of(region_of[int(free_ids[c])], lan_of) for c in cols]
            ok = _block_spread(h, a_comp, row_lo_arr[rows], row_hi_arr[rows], lb[free_ids[cols]],
                               ub[free_ids[cols]], position, by_comp[k], k, inner_lo, inner_hi, signed, blocks)
        else:
            ok = _spread(h, position, by_comp[k], k, inner_lo, inner_hi, signed)
        if not ok:
            findings.append(Finding(-1, "publicerade värden", "-", "-", "-", "motsägelsefria villkor",
                                    "de publicerade värdena uppfyller inte de offentliga sambanden"))
    undecided = []
    for t, target in enumerate(targets):
        ks = comp_targets.get(t, [])
        if not ks:
            reason = _criterion(constants[t], constants[t], target.signed)
            if reason:
                findings.append(_finding(target, reason))
            continue
        if any((t, k) not in inner_lo for k in ks):
            continue  # infeasible component, reported above
        lo = constants[t] + sum(inner_lo[(t, k)] for k in ks)
        hi = constants[t] + sum(inner_hi[(t, k)] for k in ks)
        if not _inner_protected(lo, hi, target.signed):
            undecided.append(t)
    parts_of = {t: dict(by_comp_items) for t, by_comp_items in _parts(by_comp).items()}
    # Every exact optimum is also a feasible point: it widens the inner bounds of the targets still to
    # solve in the same component, most of which it clears without a solve of their own.
    pending: dict[int, list[int]] = defaultdict(list)  # component → undecided targets with a part in it
    for t in undecided:
        for k in parts_of[t]:
            pending[k].append(t)
    evaluators = {k: _Evaluator(ts, parts_of, k, solvers[k][1], solvers[k][0].getNumCol(), inner_lo, inner_hi)
                  for k, ts in pending.items()}
    for t in undecided:
        target = targets[t]
        inner = [evaluators[k].bounds(t) for k in parts_of[t]]
        lo = constants[t] + sum(low for low, _ in inner)
        hi = constants[t] + sum(high for _, high in inner)
        if _inner_protected(lo, hi, target.signed):
            continue  # cleared by the optimum of an earlier target
        lo = hi = constants[t]
        for k, part in parts_of[t].items():
            h, position = solvers[k]
            low, high = None, None
            for minimise in (True, False):
                point = _optimum_point(h, position, part, minimise=minimise)
                if point is None:
                    break
                evaluators[k].widen(point)
                value = _value(point, position, part)
                low, high = (value, high) if minimise else (low, value)
            if low is None or high is None:
                lo, hi = math.nan, math.nan
                break
            lo, hi = lo + low, hi + high
        reason = "LP-attacken kunde inte lösas" if math.isnan(lo) else _criterion(lo, hi, target.signed)
        if len(target.coef) == 1 and not math.isnan(lo) and hi - lo < EPS:
            exact.add(next(iter(target.coef)))
        if reason:
            findings.append(_finding(target, reason))
    return findings


def _parts_matrix(parts: list[dict[int, float]], position: np.ndarray, n: int) -> csr_matrix:
    """One row per target part over a component's ``n`` columns (``position``: variable → column)."""
    r, c, v = [], [], []
    for j, part in enumerate(parts):
        for i, coef in part.items():
            r.append(j)
            c.append(position[i])
            v.append(coef)
    return csr_matrix((v, (r, c)), shape=(len(parts), n))


def _value(point: np.ndarray, position: np.ndarray, part: dict[int, float]) -> float:
    """A target part's value at a component's point."""
    return float(sum(point[position[i]] * c for i, c in part.items()))


class _Evaluator:
    """Inner bounds of the undecided target parts of one component, widened by each new feasible point
    with one sparse product."""

    def __init__(self, ts: list[int], parts_of: dict[int, dict[int, dict[int, float]]], k: int,
                 position: np.ndarray, n: int, inner_lo: dict, inner_hi: dict) -> None:
        self.row = {t: j for j, t in enumerate(ts)}
        self.matrix = _parts_matrix([parts_of[t][k] for t in ts], position, n)
        self.lo = np.array([inner_lo[(t, k)] for t in ts])
        self.hi = np.array([inner_hi[(t, k)] for t in ts])

    def widen(self, point: np.ndarray) -> None:
        values = self.matrix @ point
        np.minimum(self.lo, values, out=self.lo)
        np.maximum(self.hi, values, out=self.hi)

    def bounds(self, t: int) -> tuple[float, float]:
        j = self.row[t]
        return float(self.lo[j]), float(self.hi[j])


def _parts(by_comp: dict[int, list[tuple[int, dict[int, float]]]]) -> dict[int, list[tuple[int, dict[int, float]]]]:
    out: dict[int, list[tuple[int, dict[int, float]]]] = defaultdict(list)
    for k, items in by_comp.items():
        for t, part in items:
            out[t].append((k, part))
    return out


def _finding(target: _Target, reason: str) -> Finding:
    return Finding(target.vintage, target.quantity, target.region, target.period, target.gender, target.relation,
                   reason)


def _highs(a: csr_matrix, row_lo: np.ndarray, row_hi: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> highspy.Highs:
    h = new_highs()
    h.setOptionValue("threads", 1)
    h.setOptionValue("presolve", "off")  # keep the basis between objectives: warm starts, not cold solves
    h.setOptionValue("solver", "simplex")
    h.setOptionValue("simplex_strategy", 4)  # primal: a new objective keeps the last basis feasible
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_ = np.zeros(a.shape[1])
    lp.col_lower_, lp.col_upper_ = lb.astype(float), ub.astype(float)
    lp.row_lower_, lp.row_upper_ = row_lo.astype(float), row_hi.astype(float)
    csc = a.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(float)
    h.passModel(lp)
    return h


def _run(h: highspy.Highs, cost: np.ndarray) -> np.ndarray | None:
    h.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), cost.astype(float))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return np.array(h.getSolution().col_value)


def _spread(h: highspy.Highs, position: np.ndarray, items: list[tuple[int, dict[int, float]]], k: int,
            inner_lo: dict, inner_hi: dict, signed: list[bool]) -> bool:
    """Inner bounds of every target part from feasible points: each round pushes the targets not yet
    shown to be protected towards their minimum or maximum (as each still needs), all in one LP. Any
    feasible point is a value the intruder cannot exclude, so the spread of these points can only
    understate the interval; targets still narrow afterwards get an exact min/max. False if infeasible."""
    n = h.getNumCol()
    rng = np.random.default_rng(k)
    parts = _parts_matrix([part for _, part in items], position, n)
    signed_arr = np.array(signed, dtype=bool)
    lo = np.full(len(items), np.inf)
    hi = np.full(len(items), -np.inf)
    open_ = np.ones(len(items), dtype=bool)
    stale = 0
    for w in range(WITNESSES + 24):
        if w == 0:
            cost = np.zeros(n)
        elif w < 3:
            cost = np.full(n, 1.0 if w == 1 else -1.0)
        else:
            need_low = lo > 0
            need_high = (hi < lo + 4) | (hi < 5)
            direction = np.where(need_low & ~need_high, 1.0, np.where(need_high & ~need_low, -1.0,
                                                                       rng.choice([-1.0, 1.0], size=len(items))))
            cost = parts.T @ (direction * open_)
        point = _run(h, np.asarray(cost, dtype=float))
        if point is None:
            if w == 0:
                return False
            continue
        values = parts @ point
        before = int(open_.sum())
        lo, hi = np.minimum(lo, values), np.maximum(hi, values)
        lo_i, hi_i = np.ceil(lo - EPS), np.floor(hi + EPS)
        protected = (hi_i - lo_i >= 4) & ((lo_i <= 0) | (hi_i >= 5) | (signed_arr & (lo_i <= -5)))
        open_ = ~protected
        stale = stale + 1 if int(open_.sum()) == before else 0
        if not open_.any() or (w >= WITNESSES and stale >= 3):
            break
    for j, (t, _) in enumerate(items):
        inner_lo[(t, k)], inner_hi[(t, k)] = float(lo[j]), float(hi[j])
    return True


def _block_of(region: str, lan_of: dict[str, str]) -> tuple[str, ...]:
    """Blocks a variable of ``region`` belongs to: a kommun to its län's block; a län to its own block
    and to the top block (all län and Riket); Riket to the top block."""
    if region in lan_of:
        return (lan_of[region],)
    if region == RIKET_ID:
        return ("top",)
    return (region, "top")


def _block_spread(h: highspy.Highs, a: csr_matrix, row_lo: np.ndarray, row_hi: np.ndarray, lb: np.ndarray,
                  ub: np.ndarray, position: np.ndarray, items: list[tuple[int, dict[int, float]]], k: int,
                  inner_lo: dict, inner_hi: dict, signed: list[bool], blocks: list[tuple[str, ...]]) -> bool:
    """Inner bounds for a large component, cheaply and soundly.

    WHY this is sound: with every variable outside a block held at one feasible point ``x0`` of the
    whole component, every solution of the block's LP extends to a solution of the whole LP — a value
    the intruder cannot exclude. So intervals found per block can only understate the true ones; a
    target shown protected in a block is protected. Targets a block cannot clear fall through to the
    exact min/max on the whole component (``_solve``). The blocks are small (one län's kommuner, or
    the län and Riket level), so most targets never touch the large LP.
    """
    x0 = _run(h, np.zeros(h.getNumCol()))
    if x0 is None:
        return False
    cols_of: dict[str, list[int]] = defaultdict(list)
    for c, bs in enumerate(blocks):
        for b in bs:
            cols_of[b].append(c)
    col_blocks = [set(bs) for bs in blocks]
    by_block: dict[str, list[int]] = defaultdict(list)
    lo_all = np.full(len(items), np.inf)
    hi_all = np.full(len(items), -np.inf)
    for j, (_, part) in enumerate(items):
        cols = [int(position[i]) for i in part]
        common = set.intersection(*(col_blocks[c] for c in cols)) if cols else set()
        for b in sorted(common, key=lambda b: b == "top"):  # own län first, then the top block
            by_block[b].append(j)
            break
        value = sum(coef * x0[int(position[i])] for i, coef in part.items())
        lo_all[j] = hi_all[j] = value
    csc = a.tocsc()
    for b in sorted(by_block):
        cols = np.array(sorted(cols_of[b]), dtype=int)
        inside = np.zeros(a.shape[1], dtype=bool)
        inside[cols] = True
        rows = np.unique(csc[:, cols].tocoo().row)
        outside_x = np.where(inside, 0.0, x0)
        shift = a[rows] @ outside_x
        sub = a[rows][:, cols]
        hb = _highs(sub, row_lo[rows] - shift, row_hi[rows] - shift, lb[cols], ub[cols])
        sub_pos = np.full(len(position), -1)
        where = np.full(a.shape[1], -1)
        where[cols] = np.arange(len(cols))
        mine = by_block[b]
        sub_items = []
        for j in mine:
            _, part = items[j]
            sub_items.append((j, {i: c for i, c in part.items()}))
            for i in part:
                sub_pos[i] = where[position[i]]
        lo_b: dict = {}
        hi_b: dict = {}
        if not _spread(hb, sub_pos, sub_items, k, lo_b, hi_b, [signed[j] for j in mine]):
            continue  # cannot happen for a feasible x0; the whole-LP solve decides
        for j in mine:
            lo, hi = lo_b[(j, k)], hi_b[(j, k)]
            if not _inner_protected(lo, hi, signed[j]):
                _, part = items[j]
                low = _optimum(hb, sub_pos, part, minimise=True)
                high = _optimum(hb, sub_pos, part, minimise=False)
                lo = min(lo, low) if low is not None else lo
                hi = max(hi, high) if high is not None else hi
            lo_all[j], hi_all[j] = min(lo_all[j], lo), max(hi_all[j], hi)
    for j, (t, _) in enumerate(items):
        inner_lo[(t, k)], inner_hi[(t, k)] = float(lo_all[j]), float(hi_all[j])
    return True


def _optimum_point(h: highspy.Highs, position: np.ndarray, part: dict[int, float], *,
                   minimise: bool) -> np.ndarray | None:
    """The point where ``part`` is smallest (or largest) over the component; None if unsolved."""
    cost = np.zeros(h.getNumCol())
    for i, c in part.items():
        cost[position[i]] = c if minimise else -c
    return _run(h, cost)


def _optimum(h: highspy.Highs, position: np.ndarray, part: dict[int, float], *, minimise: bool) -> float | None:
    point = _optimum_point(h, position, part, minimise=minimise)
    if point is None:
        return None
    return _value(point, position, part)
