"""Secondary suppression by Gaussian elimination over every linked relation (after Statistics Norway's
GaussSuppression, SSBtools).

WHY an elimination and not relation-by-relation rules: the intruder combines *all* identities at once
(T = K + M + annat/okänt, kommun → län → Riket, quarters → year, share × denominator, rate ×
population, earlier vintages). A small count is revealed exactly when it lies in the linear span of what
is published. Writing every published cell as a vector over *atoms* (counts of one quantity in one
kommun × period × gender part, which no identity splits further), that is a rank question, and
Gaussian elimination answers it incrementally:

1. Cells are decided one at a time in *publication priority* (facts from earlier vintages first, then
   Riket, län and kommun; years before quarters; T before K/M; large cells before small ones).
2. Each cell's vectors are reduced against the published basis. A cell already in the span tells the
   intruder nothing new and is published. Otherwise it is published only if no *sensitive* vector
   (a quantity of 1–4 cases: a hidden cell, annat/okänt = T − K − M, den − num of a linked share, a
   kommun's quarter, …) falls into the span, and no additive relation with a published total is left
   with a derivable hidden remainder of 1–4 cases (the capacity rule: a hidden cell under a published
   total must be able to move by ≥ 5, so pure linear independence is not enough). Otherwise the cell is
   suppressed (secondary).

Because the cheapest cells come last, they are the ones suppressed: a greedy in the right order over
the exact model, deterministic (ties broken by cell id). Linear independence is not yet the interval
criterion (inequalities narrow intervals), so an LP interval step over the same atoms follows
(``pipeline.keyfigures.interval_protection``, per län above ``INTERVAL_WHOLE_ATOMS``). The independent LP audit
(``pipeline.release.audit``) then verifies the criterion on the published files.

The model is conservative where the published files are coarser than counts: a rate is treated as its
exact count (rounding hides nothing in small kommuner) and a linked share as both its numerator and
denominator counts. Shares that are ratios of two unpublished conditions (SUKF04–09, SUKF11–15) are not
counts of anything published and are protected by the primary rule alone (docs/DISCLOSURE.md).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from functools import cache, cached_property
from itertools import combinations

import numpy as np
import pandas as pd

from pipeline.contract.dictionary import RIKET_ID, municipalities
from pipeline.contract.kpis import BY_ID, KPIS, Unit
from pipeline.contract.periods import quarters_of
from pipeline.contract.table_design import count_linked_shares as linked_shares
from pipeline.keyfigures.interval_protection import feasible_point, protect_by_blocks, protect_intervals

MIN_CASES = 5
TOL = 1e-9
INTERVAL_WHOLE_ATOMS = 6_000
"""Up to this many atoms the LP interval step solves one LP over all atoms; above, one per län with the
other län's atoms held at their true values (``interval_protection.protect_by_blocks``: sound, and a
national vintage's ≈ 22 000 atoms in 21 small LPs instead of one slow one)."""
ALL_CASES = "true"
"""Numerator condition of the case count (SUKF01): every other quantity is a subset of it."""
PARTS_ALL = ("K", "M", "k3", "u")
"""Gender parts of the case count: kvinna, man, annat kön (kod 3, via SUKF16) and uppgift saknas."""
PARTS = ("K", "M", "X")
GENDER_PARTS = {"T": None, "K": ("K",), "M": ("M",), "X": ("X",), "k3": ("k3",), "u": ("u",),
                "KMk3": ("K", "M", "k3")}

Vector = dict[int, float]


def _eliminate(v: Vector, row: Vector, f: float) -> list[int]:
    """``v -= f · row`` in place, dropping entries that cancel; returns the columns left non-zero (the
    elimination follows them to the rows whose pivots they are)."""
    kept: list[int] = []
    for c, a in row.items():
        x = v.get(c, 0.0) - f * a
        if abs(x) < TOL:
            v.pop(c, None)
        else:
            v[c] = x
            kept.append(c)
    return kept


def _dated(condition: str | None) -> bool:
    return condition is not None and ("opened_in_period" in condition or "closed_in_period" in condition)


@cache
def share_of_men() -> str | None:
    """The KPI men / (women + men + annat kön) of all cases (SUKF16), if the catalogue has one."""
    return next((k.id for k in KPIS if k.unit is Unit.PERCENT and k.numerator == "kon = '2'"
                 and k.denominator == "kon in ('1', '2', '3')"), None)


@cache
def functionals(kpi: str) -> list[tuple[str, str]]:
    """What a published cell of ``kpi`` tells the intruder, as (quantity, gender override) pairs;
    gender override "" means the cell's own gender."""
    k = BY_ID.get(kpi)
    if k is None:
        return []
    if k.unit in (Unit.COUNT, Unit.RATE):
        return [(k.numerator, "")]
    if kpi in linked_shares():
        num, den = linked_shares()[kpi]
        return [(num, ""), (den, "")]
    if kpi == share_of_men():
        return [(ALL_CASES, "M"), (ALL_CASES, "KMk3")]
    return []


RESIDUAL = "R"


def residual_period(year: str) -> str:
    """The atom period of a year's dated cases that no quarter carries (a kommun that missed a quarter)."""
    return f"{year}{RESIDUAL}"


class _Atoms:
    """Atom index and values: one count per quantity × kommun × atom period × gender part."""

    def __init__(self, full: pd.DataFrame, present: np.ndarray) -> None:
        self.lan_of = {m.kod: m.lan_id for m in municipalities()}
        self.index: dict[tuple, int] = {}
        self.values: list[float] = []
        kommun = full[present & full["municipality_type"].eq("K").to_numpy()]
        self.submitted: dict[str, set[str]] = defaultdict(set)  # period -> kommuner
        codes, when = kommun["municipality"].tolist(), kommun["period"].astype(str).tolist()
        for kod, period in set(zip(codes, when, strict=True)):
            self.submitted[period].add(kod)
        # A kommun that missed a quarter of a year it reported: cases opened (closed) in the missed quarter
        # that a later quarter's file carries are in its year's dated counts and in no quarter's. They are
        # atoms of their own, period "<year>R" (the year's residual): the year is its quarters plus them.
        for year in [p for p in self.submitted if len(p) == 4]:
            gaps = {kod for kod in self.submitted[year]
                    if any(kod not in self.submitted.get(p, ()) for p in quarters_of(year))}
            if gaps:
                self.submitted[residual_period(year)] = gaps
        # Counts per (quantity, kommun, period, gender) from the first KPI carrying that quantity.
        self.count: dict[tuple, float] = {}
        num = pd.to_numeric(kommun["numerator"], errors="coerce").fillna(0).to_numpy(dtype=float).tolist()
        den = pd.to_numeric(kommun["denominator"], errors="coerce").fillna(0).to_numpy(dtype=float).tolist()
        men = share_of_men()
        for kpi, kod, period, g, n, d in zip(kommun["kpi"].tolist(), codes, when, kommun["gender"].tolist(), num, den,
                                             strict=True):
            k = BY_ID.get(kpi)
            if k is None:
                continue
            if k.unit in (Unit.COUNT, Unit.RATE):
                self.count.setdefault((k.numerator, kod, period, g), n)
            elif kpi in linked_shares():
                self.count.setdefault((k.numerator, kod, period, g), n)
                self.count.setdefault((k.denominator, kod, period, g), d)
            elif kpi == men and g == "T":
                self.count[(ALL_CASES, kod, period, "KMk3")] = d
        self.quantities = sorted({q for (q, _, _, _) in self.count})
        self._vectors: dict[tuple, Vector] = {}
        self._counts: dict[tuple, float] = {}
        self._members: dict[tuple[str, str], list[str]] = {}
        self._by_region: dict[str, dict[str, list[str]]] = {}

    def parts(self, q: str) -> tuple[str, ...]:
        return PARTS_ALL if q == ALL_CASES else PARTS

    def value(self, q: str, kod: str, period: str, part: str) -> float:
        if period.endswith(RESIDUAL):
            year = period[:4]
            return self.value(q, kod, year, part) - sum(
                self.value(q, kod, p, part) for p in quarters_of(year) if kod in self.submitted.get(p, ()))
        c = self.count
        t, k, m = (c.get((q, kod, period, g), 0.0) for g in ("T", "K", "M"))
        if part in ("K", "M"):
            return k if part == "K" else m
        if q != ALL_CASES:
            return t - k - m
        k3 = c.get((q, kod, period, "KMk3"), k + m) - k - m
        return k3 if part == "k3" else t - k - m - k3

    def atom(self, q: str, kod: str, period: str, part: str) -> int:
        key = (q, kod, period, part)
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.values)
            self.values.append(self.value(q, kod, period, part))
        return i

    def vector(self, q: str, region: str, period: str, gender: str) -> Vector:
        """The atoms a published count of ``q`` in region × period × gender adds up (kommuner that did
        not submit contribute a known zero and have no atoms). Cached: the same count is asked for by
        several KPIs and by the sensitive quantities."""
        key = (q, region, period, gender)
        vec = self._vectors.get(key)
        if vec is not None:
            return vec
        if len(period) == 4 and _dated(q):
            periods = [*quarters_of(period), residual_period(period)]
        elif period.endswith(RESIDUAL) and not _dated(q):
            self._vectors[key] = {}
            return {}
        else:
            periods = [period]
        parts = GENDER_PARTS.get(gender) or self.parts(q)
        if parts == ("X",) and q == ALL_CASES:
            parts = ("k3", "u")
        vec = {}
        for p in periods:
            for kod in self.kommuner(region, p):
                for part in parts:
                    vec[self.atom(q, kod, p, part)] = 1.0
        self._vectors[key] = vec
        return vec

    def true_total(self, q: str, region: str, period: str, gender: str) -> float:
        """The true total of ``vector(q, region, period, gender)``, cached (asked for again and again)."""
        key = (q, region, period, gender)
        found = self._counts.get(key)
        if found is None:
            values = self.values  # every coefficient of ``vector`` is 1
            found = self._counts[key] = float(sum([values[i] for i in self.vector(q, region, period, gender)]))
        return found

    def kommuner(self, region: str, period: str) -> list[str]:
        """The kommuner of ``region`` (a kommun, a län or Riket) that submitted ``period``, sorted."""
        key = (region, period)
        found = self._members.get(key)
        if found is None:
            if period not in self._by_region:  # every region of the period at once: one pass over its kommuner
                groups: dict[str, list[str]] = defaultdict(list)
                for kod in sorted(self.submitted.get(period, ())):
                    groups[kod].append(kod)
                    groups[self.lan_of[kod]].append(kod)
                    groups[RIKET_ID].append(kod)
                self._by_region[period] = groups
            found = self._members[key] = self._by_region[period].get(region, [])
        return found

    def total(self, vec: Vector) -> float:
        return float(sum(self.values[i] * c for i, c in vec.items()))


BASE_PARTS = ("K", "M", "X", "k3", "u")
"""The atom parts of ``_region_totals``' last axis (X of a quantity other than all cases; k3 and u of all cases)."""


def _region_totals(atoms: _Atoms, positions: list[tuple[str, str]]) -> np.ndarray:
    """``atoms.true_total(q, region, period, part)`` for every position × quantity × part of ``BASE_PARTS``
    at once (an array, positions × ``atoms.quantities`` × parts), with no vector built.

    WHY: the small quantities are looked for at every region × period × quantity × sum of gender parts
    (≈ 50 000 sums for a national quarter), and only a few are 1–4; building each sum's atom vector to
    add it up was a fifth of the elimination. Same semantics as ``_Atoms.vector``: a kommun that did not
    submit a period adds nothing, a dated quantity's year is its quarters plus the year's residual, a
    residual of an undated quantity is empty."""
    kods = sorted(atoms.lan_of)
    k_of = {k: i for i, k in enumerate(kods)}
    q_of = {q: i for i, q in enumerate(atoms.quantities)}
    periods = sorted({p for _, p in positions} | set(atoms.submitted)
                     | {p for y in atoms.submitted if len(y) == 4 for p in quarters_of(y)})
    p_of = {p: i for i, p in enumerate(periods)}
    nq, n_p, nk = len(q_of), len(periods), len(kods)
    counts = {g: np.zeros((nq, n_p, nk)) for g in ("T", "K", "M", "KMk3")}
    has_k3 = np.zeros((nq, n_p, nk), dtype=bool)
    for (q, kod, period, g), x in atoms.count.items():
        counts[g][q_of[q], p_of[period], k_of[kod]] = x
        if g == "KMk3":
            has_k3[q_of[q], p_of[period], k_of[kod]] = True
    t, k, m = counts["T"], counts["K"], counts["M"]
    k3 = np.where(has_k3, counts["KMk3"], k + m) - k - m
    values = np.stack([k, m, t - k - m, k3, t - k - m - k3], axis=-1)  # q × period × kommun × part
    submitted = np.zeros((n_p, nk))
    for period, kommuner in atoms.submitted.items():
        submitted[p_of[period], [k_of[kod] for kod in kommuner]] = 1.0
    for year in [p for p in periods if p.endswith(RESIDUAL)]:  # a residual is its year minus the quarters
        r, y = p_of[year], p_of.get(year[:4])
        quarters = [p_of[p] for p in quarters_of(year[:4]) if p in p_of]
        values[:, r] = (values[:, y] if y is not None else 0.0) - sum(
            values[:, p] * submitted[p][None, :, None] for p in quarters)
    values *= submitted[None, :, :, None]
    regions = sorted({r for r, _ in positions})
    member = np.zeros((len(regions), nk))
    for j, region in enumerate(regions):
        for kod, i in k_of.items():
            member[j, i] = region in (kod, RIKET_ID) or atoms.lan_of[kod] == region
    by_region = np.einsum("qpkx,rk->qprx", values, member)  # q × period × region × part
    # A published period as atom periods: a dated quantity's year is its quarters and residual.
    plain, dated = np.zeros((len(positions), n_p)), np.zeros((len(positions), n_p))
    for a, (_, period) in enumerate(positions):
        if not period.endswith(RESIDUAL):
            plain[a, p_of[period]] = 1.0
        if len(period) == 4:
            dated[a, [p_of[p] for p in [*quarters_of(period), residual_period(period)] if p in p_of]] = 1.0
        else:
            dated[a, p_of[period]] = 1.0
    r_of = {r: j for j, r in enumerate(regions)}
    rows = np.array([r_of[r] for r, _ in positions], dtype=np.int64)
    out = np.empty((len(positions), nq, len(BASE_PARTS)))
    for q, i in q_of.items():
        spread = dated if _dated(q) else plain
        out[:, i] = np.einsum("ap,apx->ax", spread, by_region[i][:, rows].transpose(1, 0, 2))
    return out


def _small_sums(atoms: _Atoms, positions: list[tuple[str, str]],
                linked: list[tuple[str, str]]) -> list[tuple[str, str, object, tuple[str, ...], float]]:
    """The sums of 1–4 cases an intruder could aim at, in the order the elimination adds them (position,
    then each quantity's sums of gender parts, then den − num of each linked share by gender):
    (region, period, quantity, parts, value), or (region, period, (num, den), (gender,), value)."""
    totals = _region_totals(atoms, positions)
    col = {p: j for j, p in enumerate(BASE_PARTS)}
    q_of = {q: i for i, q in enumerate(atoms.quantities)}
    found: list[tuple[int, int, int, int, tuple]] = []
    for q, i in q_of.items():
        parts = atoms.parts(q)
        subsets = [s for size_ in range(1, len(parts) + 1) for s in combinations(parts, size_)]
        pick = np.zeros((len(BASE_PARTS), len(subsets)))
        for j, subset in enumerate(subsets):
            pick[[col[p] for p in subset], j] = 1.0
        sums = totals[:, i] @ pick
        for a, j in zip(*np.nonzero((sums >= 1) & (sums < MIN_CASES)), strict=True):
            found.append((int(a), 0, i, int(j), (q, subsets[j], float(sums[a, j]))))
    genders = {"T": None, "K": ("K",), "M": ("M",), "X": ("X",)}
    for s, (num, den) in enumerate(linked):
        for g_i, (g, only) in enumerate(genders.items()):
            def total(q: str, only=only) -> np.ndarray:
                parts = only or atoms.parts(q)
                if parts == ("X",) and q == ALL_CASES:
                    parts = ("k3", "u")
                if q not in q_of:
                    return np.zeros(len(positions))
                return totals[:, q_of[q], [col[p] for p in parts]].sum(axis=1)
            rest = total(den) - total(num)
            for a in np.flatnonzero((rest >= 1) & (rest < MIN_CASES)):
                found.append((int(a), 1, s, g_i, ((num, den), (g,), float(rest[a]))))
    found.sort(key=lambda f: f[:4])
    return [(*positions[a], *what) for a, _, _, _, what in found]


class _Basis:
    """Published span in echelon form, plus the sensitive vectors reduced against it."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, Vector]] = []  # (pivot, row) in insertion order
        self.pivot_row: dict[int, int] = {}
        self.sensitive: list[Vector] = []
        self.by_col: dict[int, set[int]] = defaultdict(set)
        self.lost: set[int] = set()

    def reduce(self, vec: Vector) -> Vector:
        v = dict(vec)
        heap = [self.pivot_row[c] for c in v if c in self.pivot_row]
        heapq.heapify(heap)
        done: set[int] = set()
        while heap:
            r = heapq.heappop(heap)
            if r in done:
                continue
            done.add(r)
            pivot, row = self.rows[r]
            f = v.get(pivot, 0.0)
            if abs(f) < TOL:
                continue
            for c in _eliminate(v, row, f / row[pivot]):
                if c in self.pivot_row and c != pivot and self.pivot_row[c] not in done:
                    heapq.heappush(heap, self.pivot_row[c])
        return v

    def add_sensitive(self, vec: Vector) -> None:
        s = self.reduce(vec)
        j = len(self.sensitive)
        self.sensitive.append(s)
        if not s:
            self.lost.add(j)  # already revealed by facts: nothing left to protect
        for c in s:
            self.by_col[c].add(j)

    def try_add(self, vectors: Iterable[Vector], *, check: bool = True, reduced: bool = False) -> bool:
        """Add ``vectors`` (already reduced if ``reduced``) to the published span unless a sensitive
        vector would enter it."""
        new: list[Vector] = []
        for vec in vectors:
            r = dict(vec) if reduced else self.reduce(vec)
            for prev_pivot, prev in new:  # reduce against the rows added in this call too
                f = r.get(prev_pivot, 0.0)
                if abs(f) > TOL:
                    _eliminate(r, prev, f / prev[prev_pivot])
            if r:
                # Markowitz-like: of the largest coefficients, the column in fewest sensitive vectors.
                big = max(abs(a) for a in r.values())
                pivot = min((c for c, a in r.items() if abs(a) > big / 2),
                            key=lambda c: (len(self.by_col.get(c, ())), c))
                new.append((pivot, r))
        if not new:
            return True
        changed: dict[int, Vector] = {}
        for pivot, row in new:
            for j in list(self.by_col.get(pivot, ())) + [j for j in changed if pivot in changed[j]]:
                s = changed.get(j, self.sensitive[j])
                f = s.get(pivot, 0.0)
                if abs(f) < TOL:
                    continue
                s = dict(s)
                _eliminate(s, row, f / row[pivot])
                if not s and check and j not in self.lost:
                    return False
                changed[j] = s
        for pivot, row in new:
            self.pivot_row[pivot] = len(self.rows)
            self.rows.append((pivot, row))
        for j, s in changed.items():
            old = self.sensitive[j]
            for c in old.keys() - s.keys():
                self.by_col[c].discard(j)
            for c in s.keys() - old.keys():
                self.by_col[c].add(j)
            self.sensitive[j] = s
            if not s:
                self.lost.add(j)
        return True


def _priority(out: pd.DataFrame, size: np.ndarray) -> np.ndarray:
    """Publication order key (lower first): region level, period type, gender, then larger cells first."""
    level = np.where(out["municipality"].astype(str).eq(RIKET_ID), 0, np.where(out["municipality_type"].eq("K"), 2, 1))
    quarter = out["period_type"].ne("year").to_numpy().astype(int)
    gender = out["gender"].ne("T").to_numpy().astype(int)
    return np.lexsort((np.arange(len(out)), -size, gender, quarter, level))


def gauss_secondary(full: pd.DataFrame, full_present: np.ndarray, keep: np.ndarray, status: np.ndarray,
                    size: np.ndarray, forced: np.ndarray, revised: np.ndarray,
                    members: pd.DataFrame, relations: pd.DataFrame, *, intervals: bool = True,
                    previous: pd.DataFrame | None = None) -> np.ndarray:
    """Mask of secondary suppressions for the design cells ``full[keep]`` with primary ``status``.

    ``forced``: published in an earlier vintage with the same value (facts, published first, never
    suppressed). ``revised``: hidden because the value changed by 1–4 since it was published.
    ``members``/``relations``: the additive relations of ``disclosure._relations`` (capacity rule).
    ``intervals``: follow the elimination with the LP interval step (``interval_protection``);
    ``previous``: the cells published before (their changes are protected there too).
    """
    atoms = _Atoms(full, full_present)
    out = full[keep].reset_index(drop=True)
    n = len(out)
    kpis, regions = out["kpi"].to_numpy(), out["municipality"].astype(str).to_numpy()
    periods, genders = out["period"].astype(str).to_numpy(), out["gender"].to_numpy()
    vec_of: dict[int, list[Vector]] = {}
    for i in range(n):
        fs = functionals(kpis[i])
        if fs and status[i] != "-":
            keys = [(q, regions[i], periods[i], g or genders[i]) for q, g in fs]
            # A published zero says every atom under it is zero (counts are never negative).
            vec_of[i] = [u for key in keys for v in [atoms.vector(*key)]
                         for u in ([{c: 1.0} for c in v] if atoms.true_total(*key) == 0 else [v])]

    basis = _Basis()
    targets: list[tuple[Vector, float]] = []  # the sensitive vectors as built, with their true values
    # Sensitive: every count of 1–4 an intruder could aim at, at every region × period × gender part.
    linked = list(linked_shares().values())
    positions = set(zip(full["municipality"].astype(str).tolist(), full["period"].astype(str).tolist(), strict=True))
    # year − Σ quarters is a quantity too (a published year minus its published quarters): the residual.
    positions |= {(r, residual_period(p)) for r, p in positions if len(p) == 4}
    # Every atom a position reaches, numbered as the elimination always has (Riket's sums of each quantity
    # and part first: Riket is the first region and reaches every kommun): the LP's columns follow them.
    for _, period in sorted(p for p in positions if p[0] == RIKET_ID):
        for q in atoms.quantities:
            for part in atoms.parts(q):
                atoms.vector(q, RIKET_ID, period, part)
    for region, period, q, subset, value in _small_sums(atoms, sorted(positions), linked):
        if isinstance(q, str):  # a sum of gender parts of one quantity
            vec: Vector = {}
            for part in subset:
                vec.update(atoms.vector(q, region, period, part))
            basis.add_sensitive(vec)
            targets.append((vec, value))
            continue
        (num, den), (g,) = q, subset  # den − num of a linked share in gender g
        d, m = atoms.vector(den, region, period, g), atoms.vector(num, region, period, g)
        diff = dict(d)
        for c, a in m.items():
            diff[c] = diff.get(c, 0.0) - a
        diff = {c: a for c, a in diff.items() if abs(a) > TOL}
        if diff and 1 <= atoms.total(diff) < MIN_CASES:
            basis.add_sensitive(diff)
            targets.append((diff, atoms.total(diff)))
    for i in np.flatnonzero(revised):
        for vec in vec_of.get(int(i), []):
            basis.add_sensitive(vec)

    # Capacity bookkeeping of the additive relations.
    rel_id, cell, is_total, msize = (members[c].to_numpy() for c in ("rel", "cell", "total", "msize"))
    additive, leftover = relations["additive"].to_numpy(), relations["leftover"].to_numpy()
    n_rel = len(relations)
    member_sum = np.bincount(rel_id, weights=np.where(is_total, 0.0, msize), minlength=n_rel)
    total_cell = np.full(n_rel, -1)
    total_cell[rel_id[is_total]] = cell[is_total]
    published_sum = np.zeros(n_rel)
    rels_of: dict[int, list[tuple[int, float, bool]]] = defaultdict(list)
    for r, c, t, s in zip(rel_id, cell, is_total, msize, strict=True):
        if additive[r]:
            rels_of[int(c)].append((int(r), float(s), bool(t)))

    published = np.zeros(n, dtype=bool)
    keys_of: dict[int, list[tuple]] = {}
    cells_of_key: dict[tuple, list[int]] = defaultdict(list)
    for i in vec_of:
        keys_of[i] = [(q, regions[i], periods[i], g or genders[i]) for q, g in functionals(kpis[i])]
        for key in keys_of[i]:
            cells_of_key[key].append(i)
    known_keys: set[tuple] = set()

    def implied(i: int) -> list[int]:
        """Cells that publishing ``i`` makes known: every functional of theirs is then published (SUKF19's
        count is SUKF03's numerator)."""
        keys = set(keys_of[i]) | known_keys
        return [i] + sorted({j for key in keys_of[i] for j in cells_of_key[key]
                             if j != i and not published[j] and all(k in keys for k in keys_of[j])})

    def capacity_ok(cells: list[int]) -> bool:
        chosen = set(cells)
        gain: dict[int, float] = defaultdict(float)
        touched: set[int] = set()
        for i in cells:
            for r, s, t in rels_of.get(i, ()):
                touched.add(r)
                if not t:
                    gain[r] += s
        for r in touched:
            tc = total_cell[r]
            if tc < 0 or not (published[tc] or tc in chosen):
                continue
            hidden = member_sum[r] - published_sum[r] - gain[r] + leftover[r]
            if 1 - TOL <= hidden < MIN_CASES - TOL:
                return False
        return True

    def publish(cells: list[int]) -> None:
        for i in cells:
            published[i] = True
            known_keys.update(keys_of.get(i, ()))
            for r, s, t in rels_of.get(i, ()):
                if not t:
                    published_sum[r] += s

    added = np.zeros(n, dtype=bool)
    order = _priority(out, size)
    for i in [int(i) for i in order if forced[i] and status[i] == ""]:
        if i in vec_of:
            basis.try_add(vec_of[i], check=False)
        publish([i])
    for i in (int(i) for i in order):
        if published[i] or status[i] != "":
            continue
        if i not in vec_of:
            # A share whose counts are never published (``table_design.ratio_only_shares``): no atoms, but
            # a rounded share on few cases pins its fraction, so the capacity rule over its numerator,
            # denominator and den − num (``disclosure._relations`` (g)) decides (red team, stop 13).
            if capacity_ok([i]):
                publish([i])
            else:
                added[i] = True
            continue
        cells = implied(i)
        reduced = [r for r in (basis.reduce(v) for v in vec_of[i]) if r]
        if not reduced:  # already known to the intruder: costs nothing
            publish(cells)
            continue
        if capacity_ok(cells) and basis.try_add(reduced, reduced=True):
            publish(cells)
        else:
            added[i] = True
    # Cells left hidden that the intruder can compute anyway protect nothing: publish them.
    for i in np.flatnonzero(added):
        if int(i) in vec_of and not any(basis.reduce(v) for v in vec_of[int(i)]):
            added[i] = False
    if intervals:
        # Which binding cell to hide: a kommun's year last (the values the system exists to compare), else
        # the cheapest in publication priority.
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        kommun_year = out["municipality_type"].eq("K").to_numpy() & out["period_type"].eq("year").to_numpy()
        rank = rank - n * kommun_year
        visible = (status == "") & ~added
        cell_rows = {i: [(v, atoms.total(v)) for v in vecs] for i, vecs in vec_of.items()}
        changes = []  # a value published before and now different by 1–4 cases: the change is sensitive
        for key, olds in _previous_counts(previous, out).items():
            cells = cells_of_key.get(key)
            if not cells or forced[cells].all():
                continue  # republished unchanged: a count read off a rounded rate is no change
            vec = atoms.vector(*key)
            now = atoms.total(vec)
            changes += [(vec, now, old) for old in sorted(olds) if 1 <= abs(now - old) < MIN_CASES]
        earlier = _EarlierVintage(atoms, previous, out)
        inequalities = _inequalities(atoms)
        n_atoms, facts, old_inequalities, deltas = earlier.model(inequalities)
        if deltas:  # over a resubmitted kommun the changes are its atoms' (a rate's old count is not exact)
            changes = [c for c in changes if not earlier.covers(c[0])]
        every = [(v, x, None) for v, x in targets] + changes + deltas
        can_hide = ~forced | earlier.touched(cell_rows, n)
        if n_atoms <= INTERVAL_WHOLE_ATOMS:
            added |= protect_intervals(n_atoms, cell_rows, inequalities + old_inequalities, every, visible,
                                       can_hide, rank, facts=facts)
        else:
            block_of, point = earlier.blocks(n_atoms, facts, old_inequalities)
            added |= protect_by_blocks(block_of, point, cell_rows, inequalities + old_inequalities, every,
                                       visible, can_hide, rank, facts=facts)
    return added


Terms = list[tuple[tuple[str, str, str, str], float]]
"""A linear form over published counts: ((quantity, region, period, gender), coefficient) pairs."""


class _EarlierVintage:
    """The latest earlier vintage as the intruder reads it, with the resubmitted kommuner's values of that
    vintage as atoms of their own.

    WHY: a kommun that resubmitted has two sets of values, the earlier vintage's and the current one; the
    intruder (the manifests are public) knows that every other kommun is unchanged. The earlier vintage's
    published cells then constrain the unchanged kommuner's atoms *through* the resubmitted kommun's old
    atoms (an old län total = Σ unchanged kommuner + the old values of the resubmitted one): leaving those
    cells out because their values differ from today's models an intruder who knows less than the real
    one (that is how the change of SUKF19 of a revised kommun, its län and Riket was narrowed below 5).

    Which kommuner resubmitted is read off the values: a kommun whose earlier published cell the current
    values contradict. A resubmission that changed none of the kommun's own published cells is not seen
    here; the earlier cells it contradicts at län or Riket level are then left out, as before. Those cells'
    changes are still protected: a count that moved by 1–4 is hidden as revised (``disclosure._facts``) and
    every such change is a target of the interval step (``_previous_counts``); a corrected gender, which
    moves only län and Riket K/M, passes the full LP attack with no repair
    (``test_a_correction_no_kommun_cell_shows_is_protected``).
    """

    def __init__(self, atoms: _Atoms, previous: pd.DataFrame | None, out: pd.DataFrame) -> None:
        self.atoms = atoms
        self.rows: list[tuple[Terms, float, float]] = []
        self.changed: set[str] = set()
        if previous is None or previous.empty:
            return
        latest = previous.astype({"period": str, "municipality": str})
        if "vintage" in latest.columns:
            latest = latest.sort_values("vintage", kind="stable")
        latest = latest.drop_duplicates(subset=["kpi", "municipality", "period", "gender"], keep="last")
        latest = latest[latest["status"].eq("")]
        value = pd.to_numeric(latest["value"], errors="coerce").to_numpy(dtype=float)
        den = out.assign(period=out["period"].astype(str), municipality=out["municipality"].astype(str))
        den = pd.to_numeric(den.set_index(["kpi", "municipality", "period", "gender"])["denominator"],
                            errors="coerce")
        den = den[~den.index.duplicated()]
        men = share_of_men()
        for kpi, region, period, g, x in zip(latest["kpi"], latest["municipality"], latest["period"],
                                             latest["gender"], value, strict=True):
            k = BY_ID.get(kpi)
            if k is None or np.isnan(x):
                continue
            if k.unit is Unit.COUNT:
                self.rows.append(([((k.numerator, region, period, g), 1.0)], x, x))
            elif k.unit is Unit.RATE:
                pop = den.get((kpi, region, period, g))
                if pop is not None and not np.isnan(pop):
                    self.rows.append(([((k.numerator, region, period, g), 1.0)],
                                      (x - 0.05) * pop / 10_000, (x + 0.05) * pop / 10_000))
            elif kpi in linked_shares() or (kpi == men and g == "T"):
                # num − share·den between the bounds of the rounding: a ratio is two inequalities.
                num, dq = linked_shares().get(kpi, (ALL_CASES, ALL_CASES))
                ng, dg = (g, g) if kpi != men else ("M", "KMk3")
                for share, lo, hi in (((x + 0.05) / 100, -np.inf, 0.0), ((x - 0.05) / 100, 0.0, np.inf)):
                    self.rows.append(([((num, region, period, ng), 1.0), ((dq, region, period, dg), -share)],
                                      lo, hi))
        kommuner = set(atoms.lan_of)
        broken = [terms for terms, lo, hi in self.rows if not self._holds(terms, lo, hi)]
        self.changed = {terms[0][0][1] for terms in broken if terms[0][0][1] in kommuner}
        # Periods in which a resubmitted kommun's values moved (an earlier cell over it no longer holds).
        self.periods: dict[str, set[str]] = defaultdict(set)
        for terms in broken:
            (_, region, period, _), _ = terms[0]
            for kod in self.changed:
                if kod in atoms.kommuner(region, period):
                    self.periods[kod].add(period)
        self._deltas = [(q, kod, period, subset) for kod in sorted(self.changed) for period in sorted(self.periods[kod])
                        for q in atoms.quantities for k in range(1, len(atoms.parts(q)) + 1)
                        for subset in combinations(atoms.parts(q), k)]
        for q, kod, period, subset in self._deltas:  # create the atoms before the inequalities are written
            for part in subset:
                atoms.vector(q, kod, period, part)

    @cached_property
    def _mine(self) -> set[int]:
        """The resubmitted kommuner's atoms (first read by ``model``, once every atom exists)."""
        return {i for (_, kod, _, _), i in self.atoms.index.items() if kod in self.changed}

    def _vector(self, terms: Terms) -> Vector:
        vec: Vector = {}
        for key, c in terms:
            for i, a in self.atoms.vector(*key).items():
                vec[i] = vec.get(i, 0.0) + c * a
        return vec

    def _holds(self, terms: Terms, lo: float, hi: float) -> bool:
        now = self.atoms.total(self._vector(terms))
        return lo - 1e-6 <= now <= hi + 1e-6

    def covers(self, vec: Vector) -> bool:
        """Whether ``vec`` sums over atoms of a resubmitted kommun."""
        return any(i in self._mine for i in vec)

    def blocks(self, n_atoms: int, facts: list[tuple[Vector, float, float]],
               old_inequalities: list[Vector]) -> tuple[np.ndarray, np.ndarray]:
        """Per atom its block (its kommun's län and calendar year; an old atom its kommun's) and a solution
        of the whole LP: the true values, and for the old atoms a solution of the earlier cells given the
        true values of the rest (the earlier vintage's own truth is not at hand; any solution serves).

        WHY the year as well: every published relation stays inside one calendar year (quarters → year,
        year-to-date, the cross-KPI identities; vintages revise the same periods), so splitting a län's
        block by year loses nothing and makes each LP a year's size instead of the whole history's."""
        n = len(self.atoms.values)
        block_key = {key: (self.atoms.lan_of[key[1]], key[2][:4]) for key in self.atoms.index}
        number = {k: b for b, k in enumerate(sorted(set(block_key.values())))}
        block_of = np.zeros(n_atoms, dtype=np.int64)
        for key, i in self.atoms.index.items():
            block_of[i] = number[block_key[key]]
        point = np.zeros(n_atoms)
        point[:n] = self.atoms.values
        if n_atoms > n:
            for i, j in self.old_of.items():
                block_of[j] = block_of[i]
            rows = [({i - n: a for i, a in vec.items() if i >= n},
                     lo - sum(a * point[i] for i, a in vec.items() if i < n),
                     hi - sum(a * point[i] for i, a in vec.items() if i < n)) for vec, lo, hi in facts]
            rows += [({i - n: a for i, a in vec.items()}, -np.inf, 0.0) for vec in old_inequalities]
            old = feasible_point(n_atoms - n, rows)
            if old is not None:
                point[n:] = old
        return block_of, point

    def touched(self, cell_rows: dict[int, list[tuple[Vector, float]]], n: int) -> np.ndarray:
        """Cells over a resubmitted kommun: republishing one with its earlier value still tells the
        intruder that the change is smaller than the rounding, so the interval step may hide it."""
        mask = np.zeros(n, dtype=bool)
        for cell, rows in cell_rows.items():
            mask[cell] = any(self.covers(vec) for vec, _ in rows)
        return mask

    def model(self, inequalities: list[Vector]) -> tuple[int, list[tuple[Vector, float, float]], list[Vector],
                                                         list[tuple[Vector, None, float]]]:
        """(number of atoms with the old ones; the earlier cells that sum over a resubmitted kommun, as
        fixed rows over its old atoms; the inequalities again over the old atoms; the changes new − old of
        every sum of gender parts of every quantity in the periods that moved, as strict targets)."""
        n = len(self.atoms.values)
        if not self.changed:
            return n, [], [], []
        old_of = self.old_of = {i: n + j for j, i in enumerate(sorted(self._mine))}
        facts = []
        for terms, lo, hi in self.rows:
            vec = self._vector(terms)
            if any(i in old_of for i in vec):
                facts.append(({old_of.get(i, i): a for i, a in vec.items() if abs(a) > TOL}, lo, hi))
        old_inequalities = [{old_of[i]: a for i, a in vec.items()} for vec in inequalities
                            if all(i in old_of for i in vec)]
        deltas: list[tuple[Vector, None, float]] = []
        for q, kod, period, subset in self._deltas:
            vec: Vector = {}
            for part in subset:
                for i in self.atoms.vector(q, kod, period, part):
                    vec[i], vec[old_of[i]] = 1.0, -1.0
            if vec:
                deltas.append((vec, None, 0.0))
        return n + len(old_of), facts, old_inequalities, deltas


def _previous_counts(previous: pd.DataFrame | None, out: pd.DataFrame) -> dict[tuple, set[float]]:
    """Counts the intruder read in earlier vintages, per (quantity, region, period, gender): a count as
    published, a rate × the public population (the current denominator), a linked share's other side
    from a count published with it. Every distinct value ever published is one (history keeps them)."""
    found: dict[tuple, set[float]] = defaultdict(set)
    if previous is None or previous.empty:
        return found
    old = previous[previous["status"].eq("")]
    value = pd.to_numeric(old["value"], errors="coerce").to_numpy(dtype=float)
    den = out.set_index(["kpi", "municipality", "period", "gender"])["denominator"]
    den = pd.to_numeric(den, errors="coerce")
    den = den[~den.index.duplicated()]
    keys = list(zip(old["kpi"], old["municipality"].astype(str), old["period"].astype(str), old["gender"],
                    strict=True))
    shares: list[tuple[str, str, str, str, float]] = []
    for (kpi, region, period, g), x in zip(keys, value, strict=True):
        k = BY_ID.get(kpi)
        if k is None or np.isnan(x):
            continue
        if k.unit is Unit.COUNT:
            found[(k.numerator, region, period, g)].add(float(round(x)))
        elif k.unit is Unit.RATE:
            pop = den.get((kpi, region, period, g))
            if pop is not None and not np.isnan(pop):
                found[(k.numerator, region, period, g)].add(float(round(x * pop / 10_000)))
        elif kpi in linked_shares():
            shares.append((kpi, region, period, g, x))
    for kpi, region, period, g, x in shares:
        num, den_q = linked_shares()[kpi]
        for d in list(found.get((den_q, region, period, g), ())):
            found[(num, region, period, g)].add(float(round(x / 100 * d)))
        if x > 0:
            for n in list(found.get((num, region, period, g), ())):
                found[(den_q, region, period, g)].add(float(round(n * 100 / x)))
    return found


def _inequalities(atoms: _Atoms) -> list[Vector]:
    """What every intruder knows beyond the identities, per kommun × period × gender part, as
    ``vector ≤ 0``: a quantity is a subset of all cases; a linked share's numerator is a subset of its
    denominator; all cases of a quarter are at most the year's, and the year's at most the quarters'
    sum; a dated quantity's year (the sum of its quarters) is at most the year's cases."""
    out: list[Vector] = []
    keys = list(atoms.index)

    def cover(q: str, kod: str, period: str, part: str) -> list[int]:
        parts = ("k3", "u") if part == "X" and q == ALL_CASES else (part,)
        return [atoms.atom(q, kod, period, p) for p in parts]

    def leq(sub: list[int], sup: list[int]) -> None:
        vec: Vector = {}
        for i in sub:
            vec[i] = vec.get(i, 0.0) + 1.0
        for i in sup:
            vec[i] = vec.get(i, 0.0) - 1.0
        vec = {i: a for i, a in vec.items() if abs(a) > TOL}
        if vec:
            out.append(vec)

    linked = {num: den for num, den in linked_shares().values()}
    years: set[tuple[str, str, str, str]] = set()
    for q, kod, period, part in keys:
        if q == ALL_CASES:
            continue
        i = atoms.index[(q, kod, period, part)]
        if period.endswith(RESIDUAL):  # bounded through the year's sum below (all cases have no residual)
            years.add((q, kod, period[:4], part))
            continue
        leq([i], cover(ALL_CASES, kod, period, part))
        if q in linked and linked[q] != ALL_CASES:
            leq([i], cover(linked[q], kod, period, part))
        if _dated(q) and len(period) > 4:
            years.add((q, kod, period[:4], part))
    for q, kod, year, part in sorted(years):
        quarters = [p for p in [*quarters_of(year), residual_period(year)] if (q, kod, p, part) in atoms.index]
        if kod in atoms.kommuner(kod, year):
            leq([atoms.index[(q, kod, p, part)] for p in quarters], cover(ALL_CASES, kod, year, part))
    for q, kod, period, part in list(atoms.index):
        if q != ALL_CASES or len(period) != 4:
            continue
        quarters = [p for p in quarters_of(period) if kod in atoms.kommuner(kod, p)]
        year = [atoms.index[(q, kod, period, part)]]
        inside = [atoms.atom(q, kod, p, part) for p in quarters]
        for i in inside:
            leq([i], year)
        if len(quarters) == 4:
            leq(year, inside)
    return out
