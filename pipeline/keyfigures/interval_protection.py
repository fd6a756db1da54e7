"""Interval protection after the Gaussian elimination: widen every sensitive quantity's feasible interval.

WHY a second step: the elimination (``pipeline.keyfigures.secondary``) decides *linear* dependence, so
no small quantity is ever exactly computable. But the criterion of issue 9 asks more: the values
consistent with everything published must span ≥ 5 integers and contain 0 or a value ≥ 5. Counts are
non-negative, a subset is at most all cases (insats ≤ ärenden, women with insats ≤ women), a share's
numerator is at most its denominator, a quarter's cases at most the year's: these *inequalities* narrow
an interval without making it exact (a hidden K under a published T − M is at least the published K of
every subset quantity). Statistics Norway's GaussSuppression meets the same problem with an interval
step solved by linear programming after the elimination (SSBtools, ``rangeMin``/``lpPackage``); this
module does that over the elimination's own atoms:

* variables: the atoms (one count per quantity × kommun × period × gender part, ≥ 0);
* published cells fix their atoms' sums (a rate or a share is taken as its exact count — the intruder
  knows less, so this is conservative);
* the inequalities above, at atom level (each holds for every kommun × period × gender part);
* for every sensitive quantity (true value 1–4), maximise and, if needed, minimise it. When the interval
  is too narrow, the published cell whose constraint binds (non-zero dual) and that is cheapest to hide
  (last in publication priority, never a fact of an earlier vintage) is suppressed, and the quantity is
  solved again. Hiding only removes constraints, so a quantity once protected stays protected: one pass.

Deterministic (ties by publication order). The independent audit (``pipeline.release.audit``) still
checks the published files afterwards.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain

import highspy
import numpy as np
from scipy.sparse import csr_matrix

from pipeline.highs_solver import new_highs

MIN_CASES = 5
INF = highspy.kHighsInf
BIG = 1e7
"""Upper bound on every atom: keeps each LP bounded (far above any real count)."""
DUAL_TOL = 1e-9
WAVE = 2
"""Blocks solved side by side (``protect_by_blocks``), each in its own thread: HiGHS releases the GIL while
it solves, so the two cores of the target machine work at once."""

Vector = dict[int, float]


def protected(lo, hi, offset=None):
    """The criterion for a quantity whose true value is 1–4: ≥ 5 integers, containing 0 or a value ≥ 5.
    With ``offset`` (a value published before) the quantity is the change ``x − offset``: then 0 or a
    change of ≥ 5 either way. Works on arrays too."""
    lo_i, hi_i = np.ceil(lo - 1e-6), np.floor(hi + 1e-6)
    if offset is None:
        return (hi_i - lo_i >= MIN_CASES - 1) & ((lo_i <= 0) | (hi_i >= MIN_CASES))
    lo_i, hi_i = lo_i - np.round(offset), hi_i - np.round(offset)
    return (hi_i - lo_i >= MIN_CASES - 1) & (((lo_i <= 0) & (hi_i >= 0)) | (hi_i >= MIN_CASES) | (lo_i <= -MIN_CASES))


def _matrix(vectors: Sequence[Vector], n_cols: int) -> csr_matrix:
    """One row per vector (built from flat arrays: a national quarter has tens of thousands of vectors)."""
    lengths = np.fromiter(map(len, vectors), dtype=np.int64, count=len(vectors))
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    cols = np.fromiter(chain.from_iterable(vectors), dtype=np.int64, count=int(indptr[-1]))
    values = np.fromiter(chain.from_iterable(v.values() for v in vectors), dtype=float, count=int(indptr[-1]))
    out = csr_matrix((values, cols, indptr), shape=(len(vectors), n_cols))
    out.sum_duplicates()
    return out


class _Model:
    """The atom LP with one row per published vector; hiding a cell frees its rows."""

    def __init__(self, n_atoms: int, rows: list[tuple[Vector, float, float, int]]) -> None:
        self.cell_of_row = np.array([cell for *_, cell in rows], dtype=np.int64)
        a = _matrix([vec for vec, *_ in rows], n_atoms).tocsc()
        self.lo = np.array([lo for _, lo, _, _ in rows], dtype=float)
        self.hi = np.array([hi for _, _, hi, _ in rows], dtype=float)
        self.h = new_highs()
        self.h.setOptionValue("threads", 1)
        self.h.setOptionValue("presolve", "off")  # warm starts between objectives
        self.h.setOptionValue("solver", "simplex")
        self.h.setOptionValue("simplex_strategy", 4)  # primal: a new objective keeps the last basis feasible
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n_atoms, len(rows)
        lp.col_cost_ = np.zeros(n_atoms)
        lp.col_lower_, lp.col_upper_ = np.zeros(n_atoms), np.full(n_atoms, BIG)
        lp.row_lower_, lp.row_upper_ = self.lo, self.hi
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        self.h.passModel(lp)
        self.n = n_atoms
        self.rows_of: dict[int, list[int]] = {}
        for k, cell in enumerate(self.cell_of_row):
            if cell >= 0:
                self.rows_of.setdefault(int(cell), []).append(k)

    def free(self, cell: int) -> None:
        rows = np.array(self.rows_of.get(cell, []), dtype=np.int32)
        if len(rows):
            self.h.changeRowsBounds(len(rows), rows, np.full(len(rows), -INF), np.full(len(rows), INF))

    def point(self, up: np.ndarray) -> np.ndarray | None:
        """A feasible point pushed in direction ``up`` (maximises ``up · x``)."""
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), -up)
        self.h.run()
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return np.asarray(self.h.getSolution().col_value)

    def optimum(self, vec: Vector, *, maximise: bool) -> tuple[float, np.ndarray] | None:
        """Optimum of ``vec · x`` and the rows' duals (which constraints bind)."""
        cols = np.array(list(vec), dtype=np.int32)
        cost = np.array([(-a if maximise else a) for a in vec.values()], dtype=float)
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), np.zeros(self.n))
        self.h.changeColsCost(len(cols), cols, cost)
        self.h.run()
        status = self.h.getModelStatus()
        if status == highspy.HighsModelStatus.kUnbounded:
            return (np.inf if maximise else -np.inf), np.zeros(len(self.lo))
        if status != highspy.HighsModelStatus.kOptimal:
            return None
        value = float(self.h.getInfo().objective_function_value)
        return (-value if maximise else value), np.asarray(self.h.getSolution().row_dual)


def settled(lo: float, hi: float, offset: float | None, strict: bool) -> bool:
    """Whether a target needs no more hiding. ``strict``: the true value is not known (a change between
    vintages of atoms no cell carried): then only an interval that meets no change of 1–4 cases either
    way, or is protected, is settled — the audit's criterion without the truth."""
    if not strict:
        return bool(protected(lo, hi, offset))
    lo_i, hi_i = np.ceil(lo - 1e-6), np.floor(hi + 1e-6)
    touches = (lo_i <= MIN_CASES - 1 and hi_i >= 1) or (lo_i <= -1 and hi_i >= 1 - MIN_CASES)
    return not touches or bool(protected(lo, hi, 0.0))


def protect_intervals(n_atoms: int, cell_rows: dict[int, list[tuple[Vector, float]]],
                      inequalities: list[Vector], targets: Sequence[tuple[Vector, float, float | None]],
                      published: np.ndarray, can_hide: np.ndarray, rank: np.ndarray, *,
                      facts: Sequence[tuple[Vector, float, float]] = ()) -> np.ndarray:
    """Cells to suppress so that every target (vector, true value, offset) is interval-protected: the
    true value is 1–4 (offset None) or differs by 1–4 from the offset, a value published before; a true
    value None means unknown (a change of atoms between vintages): then ``settled(…, strict=True)``.

    ``cell_rows``: per cell its published vectors and their values; ``inequalities``: vectors ≤ 0
    (sub − super); ``rank``: publication order (higher = hidden first); ``can_hide``: not a fact.
    ``facts``: rows lo ≤ vector ≤ hi no suppression removes (an earlier vintage's cells over its atoms).
    """
    rows: list[tuple[Vector, float, float, int]] = []
    for cell in sorted(cell_rows):
        if published[cell]:
            rows += [(vec, value, value, cell) for vec, value in cell_rows[cell]]
    rows += [(vec, -INF, 0.0, -1) for vec in inequalities]
    rows += [(vec, max(lo, -INF), min(hi, INF), -1) for vec, lo, hi in facts]
    added = np.zeros(len(published), dtype=bool)
    if not targets or not rows:
        return added
    model = _Model(n_atoms, rows)
    hideable = can_hide & published

    unique: dict[tuple, tuple[Vector, float | None, bool, float]] = {}
    truth: dict[tuple, float] = {}  # a target's true value (its vector's at the true counts), where known
    for vec, value, offset, *const in targets:
        strict = value is None and offset is not None
        c = const[0] if const else 0.0
        key = (frozenset(vec.items()), offset, strict, c)
        unique.setdefault(key, (vec, offset, strict, c))
        if value is not None:
            truth.setdefault(key, float(value))
    # The points are found on a model of their own: the exact optima below then start from the same basis
    # whatever the points were, so which binding cell gets hidden does not hang on the screening. The few
    # targets left are then taken in a fixed order (by vector), whatever order they came in.
    keys = list(unique)
    open_ = np.flatnonzero(~_spread(_Model(n_atoms, rows), [(v, o, c) for v, o, _, c in unique.values()],
                                    np.array([truth.get(k, np.nan) for k in keys])))
    todo = [unique[k] for k in sorted((keys[j] for j in open_),
                                      key=lambda k: (sorted(k[0]), -1 if k[1] is None else k[1], k[2:]))]

    def interval(vec: Vector, offset: float | None, c: float) -> tuple[float, float, list[np.ndarray]] | None:
        high = model.optimum(vec, maximise=True)
        if high is None:
            return None
        if high[0] + c - (offset or 0.0) >= 2 * MIN_CASES - 2:
            # ≥ 8 above a true value ≤ 4: spans ≥ 5 integers and reaches ≥ 5 whatever the minimum; no need to
            # solve it (any low end ≤ the true value gives the same verdict)
            return high[0] + c - 2 * MIN_CASES, high[0] + c, []
        low = model.optimum(vec, maximise=False)
        if low is None:
            return None
        return low[0] + c, high[0] + c, [high[1], low[1]]

    for vec, offset, strict, c in todo:
        while True:
            found = interval(vec, offset, c)
            if found is None:
                break  # infeasible cannot happen with the true values; leave it to the audit
            lo, hi, duals = found
            if settled(lo, hi, offset, strict):
                break
            binding = np.zeros(len(model.cell_of_row), dtype=bool)
            for dual in duals:
                binding |= np.abs(dual) > DUAL_TOL
            cells = {int(c) for c in model.cell_of_row[binding] if c >= 0 and hideable[c]}
            if not cells:
                break  # only facts bind: nothing left to hide here (the audit decides)
            cell = max(cells, key=lambda c: rank[c])
            model.free(cell)
            hideable[cell] = False
            added[cell] = True
    return added


SPREAD_ROUNDS = 40
SPREAD_MIN_GAIN = 2
"""Feasible points are tried while each settles at least this many targets (a point costs about what one
and a half exact optima cost): on a national quarter, 733 → 137 targets left for exact optima, 2.15 → 1.27 s."""


def _spread(model: _Model, targets: list[tuple[Vector, float | None, float]], truths: np.ndarray) -> np.ndarray:
    """Targets shown protected by a few feasible points (cheap): each point is a set of values the
    intruder cannot exclude, so the range of the points understates every interval — a target whose
    range already meets the criterion is protected; the rest get exact optima. The true counts are such a
    point too: ``truths`` (NaN where unknown) start each range.

    The first two points push every target up, then down; each later one pushes a random half of the
    targets not yet settled up (WHY up: a true 1–4 pushed to ≥ 8 is protected whatever its low end; with
    every target pulling at once they compete for the same cases, a random half leaves each more room)."""
    if not targets:
        return np.zeros(0, dtype=bool)
    offsets = np.array([np.nan if o is None else o for _, o, _ in targets])
    consts = np.array([c for _, _, c in targets], dtype=float)
    changes = ~np.isnan(offsets)
    t = _matrix([vec for vec, _, _ in targets], model.n)
    t_up = t.T.tocsr()
    known = ~np.isnan(truths)
    lo = np.where(known, truths, np.inf)
    hi = np.where(known, truths, -np.inf)
    done = np.zeros(len(targets), dtype=bool)
    rng = np.random.default_rng(0)
    left = len(targets)
    for w in range(SPREAD_ROUNDS):
        sign = np.ones(len(targets)) if w % 2 == 0 else -np.ones(len(targets))
        if w >= 2:
            sign = rng.choice([0.0, 1.0], size=len(targets))
        point = model.point(np.asarray(t_up @ (sign * ~done), dtype=float).ravel())
        if point is None:
            break
        values = t @ point + consts
        lo, hi = np.minimum(lo, values), np.maximum(hi, values)
        done = np.where(changes, protected(lo, hi, np.nan_to_num(offsets)), protected(lo, hi))
        settled_now, left = left - int((~done).sum()), int((~done).sum())
        if not left or (w >= 4 and settled_now < SPREAD_MIN_GAIN):
            break
    return done


def feasible_point(n_atoms: int, rows: Sequence[tuple[Vector, float, float]]) -> np.ndarray | None:
    """One solution of lo ≤ vector · x ≤ hi, x ≥ 0 (None if there is none)."""
    if not rows:
        return np.zeros(n_atoms)
    return _Model(n_atoms, [(vec, max(lo, -INF), min(hi, INF), -1) for vec, lo, hi in rows]).point(np.zeros(n_atoms))


def protect_by_blocks(block_of: np.ndarray, point: np.ndarray, cell_rows: dict[int, list[tuple[Vector, float]]],
                      inequalities: list[Vector], targets: Sequence[tuple[Vector, float | None, float | None]],
                      published: np.ndarray, can_hide: np.ndarray, rank: np.ndarray, *,
                      facts: Sequence[tuple[Vector, float, float]] = ()) -> np.ndarray:
    """``protect_intervals`` one block of atoms at a time (a län: its kommuner's atoms), every atom
    outside the block held at ``point`` (the true values; any solution of the whole LP would do).

    WHY this is sound: ``point`` solves the whole LP, so every solution of a block's LP with the other
    atoms at ``point`` is a solution of the whole LP — values the intruder cannot exclude. A block's
    interval of a target therefore understates the whole one, and a target protected in its block is
    protected (the criterion only gets easier as an interval widens). Hiding a cell only frees rows, so
    a block protected earlier stays protected when a later block hides more. The blocks go in waves of
    ``WAVE``, side by side in threads; each sees the cells hidden by the waves before it (not those of its
    neighbour in the wave), so the result is the same with one thread or two. A target over several
    blocks (a Riket quantity) is solved in the block that carries most of its true value, the rest a
    constant. WHY at all: one LP over a national vintage (≈ 20 ms a solve, thousands of solves) is too
    slow; a län's LP is a tenth of it and most of its rows.
    """
    n_blocks = int(block_of.max()) + 1 if len(block_of) else 0
    local = np.zeros(len(block_of), dtype=np.int64)
    for b in range(n_blocks):
        inside = np.flatnonzero(block_of == b)
        local[inside] = np.arange(len(inside))

    block_list, local_list, point_list = block_of.tolist(), local.tolist(), np.asarray(point).tolist()

    def split(vec: Vector) -> dict[int, tuple[Vector, float]]:
        """Per block touched: (the block's part in local atoms, the rest at ``point``)."""
        blocks = {block_list[i] for i in vec}
        if len(blocks) == 1:  # most vectors (one kommun's, one län's): no rest
            return {blocks.pop(): ({local_list[i]: a for i, a in vec.items()}, 0.0)}
        parts: dict[int, Vector] = defaultdict(dict)
        inner: dict[int, float] = defaultdict(float)
        for i, a in vec.items():
            b = block_list[i]
            parts[b][local_list[i]] = a
            inner[b] += a * point_list[i]
        total = sum(inner.values())
        return {b: (part, total - inner[b]) for b, part in parts.items()}

    rows_of: dict[int, dict[int, list[tuple[Vector, float]]]] = defaultdict(lambda: defaultdict(list))
    for cell in sorted(cell_rows):
        if published[cell]:
            for vec, value in cell_rows[cell]:
                for b, (part, rest) in split(vec).items():
                    rows_of[b][cell].append((part, value - rest))
    ineq_of: dict[int, list[Vector]] = defaultdict(list)
    facts_of: dict[int, list[tuple[Vector, float, float]]] = defaultdict(list)
    for vec in inequalities:
        parts = split(vec)
        for b, (part, rest) in parts.items():  # one kommun's atoms: one block, rest 0
            if len(parts) == 1:
                ineq_of[b].append(part)
            else:
                facts_of[b].append((part, -np.inf, -rest))
    for vec, lo, hi in facts:
        for b, (part, rest) in split(vec).items():
            facts_of[b].append((part, lo - rest, hi - rest))
    targets_of: dict[int, list[tuple]] = defaultdict(list)
    for vec, value, offset in targets:
        parts = split(vec)
        if len(parts) == 1:
            (b, (part, rest)), = parts.items()
        else:
            weight: dict[int, float] = defaultdict(float)
            for i, a in vec.items():
                weight[block_list[i]] += abs(a) * point_list[i]
            b = max(sorted(weight), key=lambda b: weight[b])
            part, rest = parts[b]
        targets_of[b].append((part, value, offset, rest))
    added = np.zeros(len(published), dtype=bool)
    sizes = np.bincount(block_of, minlength=n_blocks)
    # Län by län (Stockholm first, with most Riket targets); blocks are numbered by (län, year), so over
    # several years a wave mostly holds one län's years, which share no cell: nothing lost by solving them at once.
    order = sorted(targets_of)

    def solve(b: int, hidden: np.ndarray) -> np.ndarray:
        rows = {cell: r for cell, r in rows_of[b].items() if not hidden[cell]}
        return protect_intervals(int(sizes[b]), rows, ineq_of[b], targets_of[b], published & ~hidden, can_hide, rank,
                                 facts=facts_of[b])

    threads = max(1, min(WAVE, int(os.environ.get("SUKF_LP_THREADS", os.cpu_count() or 1))))
    with ThreadPoolExecutor(threads) as pool:
        for w in range(0, len(order), WAVE):
            wave = order[w:w + WAVE]
            for hidden in pool.map(solve, wave, [added.copy()] * len(wave)):
                added |= hidden
    return added
