"""Run the committed Great Expectations suites (``expectations/*.json``) on pandas DataFrames.

Why this shape:
- GE 1.x cannot validate DuckDB through SQLAlchemy, so everything is validated as pandas
  (STACK_NOTES.md). Staged Parquet is read into pandas by the caller.
- ``import great_expectations`` costs ≈2.6 s and an ephemeral context a little more, so both
  happen lazily, once per process, and progress bars are switched off (they would flood logs).
- Failing row positions come from the ``COMPLETE`` result format (``unexpected_index_list``) and
  become one Issue per row and column in ``pipeline.validation.validate``. GE's cost is mostly
  per-expectation Python overhead (≈3 ms each, independent of row count for our file sizes), and
  ``COMPLETE`` costs twice ``BOOLEAN_ONLY``; since most files pass most expectations, the suites
  are first run ``BOOLEAN_ONLY`` and only the failing expectations again with ``COMPLETE``, and a
  file's two suites share one batch and one pass. Measured: ≈0.45 s → ≈0.2 s per clean file.
- Many files are validated in one GE pass (:func:`run_file_suites_batch`): their frames are
  concatenated and each expectation's result is split back per file, exactly as GE computes it
  for that file alone (per-file counts and rows are cut from the batch with numpy, not one pandas
  operation per file and expectation). GE's own fixed cost per pass is cut by computing
  ``Expectation.configuration`` once per expectation object (:func:`_memoise_configuration_property`).
  Measured on the generated national 2025Q3 (290 files, mixed formats), CPU: 2.7 s → 1.5 s for the
  whole batch; one small file 0.65 s → 0.4 s.
- A big batch (from ``DISTINCT_FROM_ROWS`` rows) is validated over each column's distinct values: a
  row-wise expectation on one column judges a cell by its value alone, and GE's per-row work (a Python
  regex call per cell, hashing the frame) was most of its cost on a 20 000-row file; the rows holding a
  value GE finds unexpected are that expectation's rows. Measured on a 20 000-row file: ≈0.6 → ≈0.45 s.
- GE is not documented as thread-safe; the upload service may validate concurrently, so calls are
  serialised with a lock (one validation takes tens of milliseconds; a quarter's batch ≈1 s).

The Dagster layer uses :func:`run_suite` on the combined national frame of a quarter and turns
the :class:`SuiteResult` into asset checks (critical suite → ERROR, warning suite → WARN).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from pipeline.settings import EXPECTATIONS_DIR
from pipeline.validation.suites import ERROR_SUITE, WARNING_SUITE

log = logging.getLogger(__name__)
_LOCK = threading.Lock()

SCOPE_FILE = "file"  # one submission: every expectation
SCOPE_NATIONAL = "national"  # all accepted cases together: per-file limits (row count) skipped


@dataclass(frozen=True)
class Outcome:
    """One expectation's result. ``rows`` are frame positions (0-based), never values."""

    expectation: str  # e.g. "expect_column_values_to_be_in_set"
    rule: str
    column: str | None
    success: bool
    rows: list[int] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)  # expect_table_columns_to_match_set
    unexpected_count: int = 0
    element_count: int = 0
    observed: Any = None  # table-level observed value (row count, share), safe to show
    error: bool = False  # the expectation could not run (e.g. its column is missing)

    @property
    def name(self) -> str:
        return f"{self.expectation}({self.column})" if self.column else self.expectation


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    success: bool
    outcomes: list[Outcome]

    @property
    def failed_outcomes(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def failed(self) -> list[str]:
        """Names of the failing expectations, e.g. ``expect_column_values_to_be_in_set(kon)``."""
        return [o.name for o in self.failed_outcomes]

    @property
    def evaluated(self) -> int:
        return len(self.outcomes)

    def summary(self) -> dict[str, Any]:
        """Plain-dict metadata for a Dagster asset check (no values, only names and counts)."""
        return {
            "suite": self.suite,
            "success": self.success,
            "evaluated": self.evaluated,
            "failed": len(self.failed),
            "failing": self.failed,
            "unexpected_rows": sum(o.unexpected_count for o in self.failed_outcomes),
        }


def suite_path(name: str):
    return EXPECTATIONS_DIR / f"{name}.json"


@cache
def suite_dict(name: str) -> dict[str, Any]:
    """The committed JSON suite (cached per process)."""
    return json.loads(suite_path(name).read_text(encoding="utf-8"))


@cache
def _engine() -> tuple[Any, Any]:
    """(great_expectations module, batch definition) of one ephemeral context per process."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for noisy in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    _memoise_configuration_property()
    _skip_batch_fingerprint()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("sukf").add_dataframe_asset("frame")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    _freeze_long_lived_objects()
    return gx, batch_definition


def _freeze_long_lived_objects() -> None:
    """Move every object alive now (GE, pandas, numpy and the rest just imported) out of the cyclic GC's way.

    WHY: after GE's import the process holds ≈260 000 GC-tracked objects that live as long as it does
    (modules, classes, functions, GE's registries). A validation of a 20 000-row file allocates enough
    containers to set off a full collection about every third run, and each one walked all of them:
    ≈0.1 s, i.e. ≈0.04 s CPU per validation on average (``gc.callbacks``). Frozen objects are skipped by
    collections; they are still freed by reference counting, and only a cycle among them that becomes
    garbage later would stay (right after the import the whole heap held 86 such objects, so no
    ``gc.collect()`` first, which would cost 0.1 s once). Once per process, with the engine; no result
    depends on when the collector runs.
    """
    gc.freeze()


def _skip_batch_fingerprint() -> None:
    """Stop GE hashing every validated frame for its batch markers (``pandas_data_fingerprint``).

    GE's pandas engine md5s ``pd.util.hash_pandas_object(frame)`` of each batch under
    ``HASH_THRESHOLD`` bytes (1e9, i.e. every frame we validate) only to record it in the batch
    markers, which nothing here reads: on a 20 000-row file that hashing of the row frames cost about
    0.14 s CPU per validation, a third of GE's time. A threshold of 0 means "never"; expectations and
    their results do not depend on it (``tests/test_validation_batch.py`` compares with GE's defaults).
    """
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


_CONFIGURATIONS: dict[int, tuple[Any, Any]] | None = None
"""While one of our validations runs: id(expectation) -> (expectation, its configuration)."""


def _memoise_configuration_property() -> None:
    """Make GE's ``Expectation.configuration`` computed once per expectation object during our validations.

    GE 1.x rebuilds it on every read (a pydantic ``.dict()``, a regex for the type name and a new
    ``ExpectationConfiguration``), and one validation pass reads it about 35 times per expectation:
    measured ≈60 % of GE's fixed cost per pass (0.65 s for the two suites). The objects a validation
    builds (``to_domain_obj``) are not changed afterwards, and GE deep-copies the configuration before
    it changes one (``_validate``), so the first value is the value of every later read. Outside
    :func:`_memoised_configurations` GE's own property runs unchanged; the declared suites and every
    result are the same (``tests/test_validation_batch.py`` compares with GE run without it).
    """
    from great_expectations.expectations.expectation import Expectation

    original = Expectation.__dict__.get("configuration")
    if not isinstance(original, property) or getattr(original.fget, "sukf_memoised", False):
        return

    def configuration(self: Any) -> Any:
        cache = _CONFIGURATIONS
        if cache is None:
            return original.fget(self)
        hit = cache.get(id(self))
        if hit is None or hit[0] is not self:
            hit = cache[id(self)] = (self, original.fget(self))  # the object is held, so its id stays its own
        return hit[1]

    configuration.sukf_memoised = True  # type: ignore[attr-defined]
    Expectation.configuration = property(configuration, doc=original.__doc__)  # type: ignore[method-assign]


@contextmanager
def _memoised_configurations() -> Iterator[None]:
    """The memo of :func:`_memoise_configuration_property` for one of our validations (under ``_LOCK``),
    emptied afterwards so no expectation object outlives the call."""
    global _CONFIGURATIONS
    _CONFIGURATIONS = {}
    try:
        yield
    finally:
        _CONFIGURATIONS = None


def _selected(name: str, scope: str, missing: frozenset[str]) -> tuple[int, ...]:
    """Positions of the suite's expectations that apply to ``scope`` and to present columns.

    Column expectations on ``missing`` columns are dropped: GE would raise (slowly) for each,
    and the absence itself is reported by ``expect_column_to_exist`` (required columns) or allowed.
    """
    keep = []
    for pos, exp in enumerate(suite_dict(name)["expectations"]):
        if scope == SCOPE_NATIONAL and exp["meta"].get("scope") == SCOPE_FILE:
            continue
        if "column_set" not in exp["kwargs"] and _columns(exp) & missing:
            continue
        keep.append(pos)
    return tuple(keep)


Key = tuple[str, int]  # (suite name, position of the expectation in the committed suite)


@cache
def _suite(keys: tuple[Key, ...]) -> Any:
    """A GE ExpectationSuite holding the given expectations (cached per selection).

    ``meta.suite``/``meta.position`` tie each result back to its expectation (GE may reorder).
    """
    gx, _ = _engine()
    expectations = []
    for name, pos in keys:
        exp = suite_dict(name)["expectations"][pos]
        expectations.append({**exp, "meta": {**exp["meta"], "suite": name, "position": pos}})
    name = "+".join(sorted({n for n, _ in keys})) or "empty"
    return gx.ExpectationSuite(name=name, expectations=expectations)


def _columns(exp: dict[str, Any]) -> set[str]:
    kwargs = exp["kwargs"]
    return set(kwargs.get("column_list") or []) | ({kwargs["column"]} if "column" in kwargs else set())


def expected_columns(name: str) -> set[str]:
    return set().union(*(_columns(e) for e in suite_dict(name)["expectations"]))


def run_suite(name: str, frame: pd.DataFrame, *, scope: str = SCOPE_NATIONAL) -> SuiteResult:
    """Validate ``frame`` (blank cells already None/NaN) against suite ``name``.

    ``scope="file"`` for one submission, ``"national"`` for all accepted cases of a quarter.
    """
    return run_suites([name], frame, scope=scope)[name]


def run_suites(names: list[str], frame: pd.DataFrame, *,
               scope: str = SCOPE_NATIONAL) -> dict[str, SuiteResult]:
    """Several suites over one GE batch and one validation pass (GE's per-batch and per-pass
    overhead is paid once; a file is validated against both suites this way)."""
    frame = frame.reset_index(drop=True)
    keys: list[Key] = []
    for name in names:
        missing = frozenset(expected_columns(name) - set(frame.columns))
        keys += [(name, pos) for pos in _selected(name, scope, missing)]
    _, batch_definition = _engine()
    with _LOCK, _memoised_configurations():
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        quick = batch.validate(_suite(tuple(keys)), result_format={"result_format": "BOOLEAN_ONLY"})
        failing = tuple(sorted(_key(r) for r in quick.results if not r.success))
        detailed = []
        if failing:
            complete = {"result_format": "COMPLETE"}
            detailed = batch.validate(_suite(failing), result_format=complete).results
    by_key = {_key(r): _outcome(r) for r in detailed}
    out = {}
    for name in names:
        outcomes = [by_key.get(key) or _passed(*key) for key in keys if key[0] == name]
        out[name] = SuiteResult(name, all(o.success for o in outcomes), outcomes)
    return out


def _key(res: Any) -> Key:
    meta = res.expectation_config.meta
    return str(meta["suite"]), int(meta["position"])


@cache
def _passed(name: str, position: int) -> Outcome:
    exp = suite_dict(name)["expectations"][position]
    column = exp["kwargs"].get("column") or (exp["kwargs"].get("column_list") or [None])[-1]
    return Outcome(expectation=exp["type"], rule=exp["meta"].get("rule", ""), column=column, success=True)


def _outcome(res: Any) -> Outcome:
    config = res.expectation_config
    kwargs = config.kwargs
    body = res.result or {}
    raised = bool((res.exception_info or {}).get("raised_exception"))
    if raised:
        log.warning("expectation %s could not run", config.type)  # message may quote data: not logged
    column = kwargs.get("column")
    if column is None and kwargs.get("column_list"):
        column = kwargs["column_list"][-1]  # the compound key's own column (arende_id)
    rows = [int(i) for i in body.get("unexpected_index_list") or [] if not isinstance(i, dict)]
    missing_columns = list(((body.get("details") or {}).get("mismatched") or {}).get("missing") or [])
    observed = body.get("observed_value")
    if "unexpected_percent" in body and "observed_value" not in body:
        observed = body.get("unexpected_percent")
    return Outcome(
        expectation=config.type,
        rule=(config.meta or {}).get("rule", ""),
        column=column,
        success=bool(res.success),
        rows=rows,
        missing_columns=missing_columns,
        unexpected_count=int(body.get("unexpected_count") or 0),
        element_count=int(body.get("element_count") or 0),
        observed=observed,
        error=raised,
    )


# --- many files in one GE pass ---------------------------------------------------------------
#
# How each expectation type is split back per file. ``rows``: a row-wise map expectation, its
# unexpected rows are split by file position; ``columns``: depends only on the column set, which
# is the same for every file of a group; ``row_count``: computed per file from its length (GE
# would see the whole batch). A type missing here raises, so a new kind of expectation in
# ``suites.py`` needs a conscious decision instead of being silently split wrong.
_SPLIT = {
    "expect_column_values_to_not_be_null": "rows",
    "expect_column_values_to_be_in_set": "rows",
    "expect_column_values_to_not_be_in_set": "rows",
    "expect_column_values_to_match_regex": "rows",
    "expect_compound_columns_to_be_unique": "rows",
    "expect_table_columns_to_match_set": "columns",
    "expect_table_row_count_to_be_between": "row_count",
}
FILE_COLUMN = "_sukf_file"
"""Private column holding each row's file number in a batch. It is prepended to the compound key
of the uniqueness expectation, so arende_id is unique per file, never across files (two versions
of one municipality's file can be in the same batch)."""


def _split_kind(exp: dict[str, Any]) -> str:
    try:
        return _SPLIT[exp["type"]]
    except KeyError:
        raise ValueError(f"no per-file split defined for {exp['type']}; add it to expectations._SPLIT") from None


@cache
def _batch_suite(keys: tuple[Key, ...], keep_mostly: bool = False) -> Any:
    """Like :func:`_suite`, rewritten for a batch of files: ``mostly`` removed (a share over the
    whole batch says nothing about one file, so every unknown-code row is found and the share is
    computed per file afterwards; ``keep_mostly`` for a batch of one file, where GE's own verdict
    is the file's) and the file number prepended to compound keys. ``ignore_row_if`` is "never"
    for compound uniqueness, so the extra always-present column changes nothing within a file."""
    gx, _ = _engine()
    expectations = []
    for name, pos in keys:
        exp = suite_dict(name)["expectations"][pos]
        kwargs = {k: v for k, v in exp["kwargs"].items() if k != "mostly" or keep_mostly}
        if exp["type"] == "expect_compound_columns_to_be_unique":
            if kwargs.get("ignore_row_if", "never") != "never":
                raise ValueError("per-file uniqueness in a batch assumes ignore_row_if='never'")
            kwargs["column_list"] = [FILE_COLUMN, *kwargs["column_list"]]
        expectations.append({**exp, "kwargs": kwargs, "meta": {**exp["meta"], "suite": name, "position": pos}})
    return gx.ExpectationSuite(name="batch:" + "+".join(sorted({n for n, _ in keys})), expectations=expectations)


def run_file_suites_batch(frames: list[pd.DataFrame]) -> list[tuple[SuiteResult, SuiteResult]]:
    """Both suites for many submissions, with one GE validation per set of columns.

    GE's cost is a fixed few milliseconds per expectation per validation, whatever the row count,
    so the prepared national frames are concatenated and validated once; every expectation's
    result is then split back per file and is exactly what validating that file alone would give
    (``tests/test_validation_batch.py`` proves it). Files are grouped by their column set because
    column-set expectations, and which column expectations apply, are per file.
    """
    groups: dict[frozenset[str], list[int]] = {}
    for i, frame in enumerate(frames):
        groups.setdefault(frozenset(frame.columns), []).append(i)
    out: list[tuple[SuiteResult, SuiteResult] | None] = [None] * len(frames)
    for members in groups.values():
        for i, result in zip(members, _run_group([frames[i] for i in members]), strict=True):
            out[i] = result
    return out  # type: ignore[return-value]


def _run_group(frames: list[pd.DataFrame]) -> list[tuple[SuiteResult, SuiteResult]]:
    names = [ERROR_SUITE, WARNING_SUITE]
    columns = list(frames[0].columns)
    keys: list[Key] = []
    for name in names:
        missing = frozenset(expected_columns(name) - set(columns))
        keys += [(name, pos) for pos in _selected(name, SCOPE_FILE, missing)]
    kinds = {key: _split_kind(suite_dict(key[0])["expectations"][key[1]]) for key in keys}
    ge_keys = tuple(key for key in keys if kinds[key] != "row_count")

    lengths = [len(f) for f in frames]
    starts = [0]
    for n in lengths:
        starts.append(starts[-1] + n)
    cells = _stack_cells(frames, columns)
    combined = pd.DataFrame({c: pd.Series(cells[:, j], dtype=object) for j, c in enumerate(columns)},
                            index=pd.RangeIndex(starts[-1]), columns=columns)
    combined.insert(0, FILE_COLUMN, _file_numbers(lengths))

    by_key: dict[Key, Outcome] = {}
    if ge_keys:
        alone = len(frames) == 1
        plan = (_distinct_plan(combined, ge_keys, kinds, keep_mostly=alone)
                if len(combined) >= DISTINCT_FROM_ROWS else None)
        with _LOCK, _memoised_configurations():
            if plan is None:
                by_key = _failing(combined, ge_keys, keep_mostly=alone)
            else:
                by_key = _failing_by_distinct_values(combined, plan, kinds, keep_mostly=alone)

    # Per file, without a pandas operation per file and expectation: each column's non-null count
    # (row sums between file starts) and each failing expectation's rows cut at the file starts.
    nonnull = np.vstack([np.zeros((1, len(columns)), dtype=np.int64),
                         np.cumsum(combined[columns].notna().to_numpy(), axis=0, dtype=np.int64)])
    counts = nonnull[starts[1:]] - nonnull[starts[:-1]]
    position = {c: j for j, c in enumerate(columns)}
    cut = {}
    for key, o in by_key.items():
        if not o.error and kinds[key] == "rows":
            rows = np.sort(np.asarray(o.rows, dtype=np.int64))
            cut[key] = np.split(rows, np.searchsorted(rows, starts[1:-1]))

    results = []
    for i in range(len(frames)):
        per_suite = []
        for name in names:
            outcomes = []
            for key in keys:
                if key[0] != name:
                    continue
                column = suite_dict(key[0])["expectations"][key[1]]["kwargs"].get("column")
                considered = int(counts[i, position[column]]) if column in position else None
                rows = [int(r) - starts[i] for r in cut[key][i]] if key in cut else None
                outcomes.append(_file_outcome(key, kinds[key], by_key.get(key), starts[i + 1] - starts[i], rows,
                                              considered))
            per_suite.append(SuiteResult(name, all(o.success for o in outcomes), outcomes))
        results.append((per_suite[0], per_suite[1]))
    return results


def _failing(frame: pd.DataFrame, keys: tuple[Key, ...], *, keep_mostly: bool = False) -> dict[Key, Outcome]:
    """GE's outcome (row positions of ``frame``) of every expectation of ``keys`` that fails on ``frame``.

    Most expectations pass for most files; COMPLETE costs twice BOOLEAN_ONLY, so the suite runs
    BOOLEAN_ONLY and only the failing expectations again with row positions. Caller holds ``_LOCK``.
    """
    _, batch_definition = _engine()
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    quick = batch.validate(_batch_suite(keys, keep_mostly), result_format={"result_format": "BOOLEAN_ONLY"})
    failing = tuple(sorted(_key(r) for r in quick.results if not r.success))
    if not failing:
        return {}
    detailed = batch.validate(_batch_suite(failing), result_format={"result_format": "COMPLETE"}).results
    return {_key(r): _outcome(r) for r in detailed}


# --- Great Expectations over each column's distinct values -------------------------------------
#
# A row-wise expectation on one column (not null, in a set, not in a set, a regex) judges each cell
# by its value alone, and a column of 20 000 rows holds a few hundred distinct values at most
# (codes, dates), so GE's per-row work (a Python regex call per cell, hashing the frame) is most of
# its cost on a big file. For big batches GE therefore validates a frame of each column's distinct
# values (first occurrences, in order, the cells themselves), and a value GE finds unexpected marks
# every row holding it. Columns with many distinct values (arende_id) and the compound uniqueness key
# are validated on the rows themselves, in a second, narrow frame. The declared suites run as they
# always do: ``mostly`` is judged per file from the row counts for a batch of many files
# (``_file_outcome``), and for a file alone its expectations with ``mostly`` run on the rows with
# GE's own ``mostly`` (a share of distinct values would mean nothing). ``tests/test_validation.py``
# compares both ways on the hostile corpus and on full-size files.

DISTINCT_FROM_ROWS = 2_000
"""Batches from this many rows are validated over distinct values (below, the extra GE pass costs
more than the rows it saves)."""
_NARROW_SHARE = 4
"""A column is validated over its distinct values when it has at most 1/4 as many as rows."""


@dataclass(frozen=True)
class _DistinctPlan:
    """How a batch is validated over distinct values: the two frames and which keys run on which."""

    distinct: pd.DataFrame  # every column; narrow ones hold their distinct values, padded with the first
    codes: dict[str, np.ndarray]  # narrow column -> each row's position of its value in ``distinct``
    counts: dict[str, int]  # narrow column -> its number of distinct values (the rest is padding)
    on_distinct: tuple[Key, ...]
    rows: pd.DataFrame  # the rows themselves, only the columns ``on_rows`` need
    on_rows: tuple[Key, ...]


def _distinct_plan(combined: pd.DataFrame, keys: tuple[Key, ...], kinds: dict[Key, str], *,
                   keep_mostly: bool) -> _DistinctPlan | None:
    """The plan for ``combined``, or None when no column gains or its cells are not all text or null
    (only then is a cell's verdict a function of a value pandas' hashing tells apart: ``1``, ``1.0``
    and ``True`` are one key). With ``keep_mostly`` (a file alone) expectations with ``mostly`` run on
    the rows with GE's own ``mostly``, as :func:`_failing` runs them."""
    n = len(combined)
    if n == 0:
        return None
    by_column: dict[str, list[Key]] = {}
    for key in keys:
        exp = suite_dict(key[0])["expectations"][key[1]]
        single = kinds[key] == "rows" and exp["type"] != "expect_compound_columns_to_be_unique"
        if single and not (keep_mostly and "mostly" in exp["kwargs"]):
            by_column.setdefault(exp["kwargs"]["column"], []).append(key)
    codes: dict[str, np.ndarray] = {}
    firsts: dict[str, np.ndarray] = {}
    for name in by_column:
        values = combined[name].to_numpy(dtype=object)
        column_codes, uniques = pd.factorize(values, use_na_sentinel=False)
        if pd.api.types.infer_dtype(uniques, skipna=True) not in ("string", "empty"):
            return None
        if len(uniques) * _NARROW_SHARE <= n:
            # Codes are numbered in order of first appearance: a value's first row is where the
            # running maximum of the codes first reaches its code.
            running = np.maximum.accumulate(column_codes)
            firsts[name] = np.flatnonzero(np.concatenate(([True], running[1:] > running[:-1])))
            codes[name] = column_codes
    if not codes:
        return None
    length = max(len(f) for f in firsts.values())
    columns = {}
    for name in combined.columns:
        values = combined[name].to_numpy(dtype=object)
        if name in firsts:
            first = firsts[name]
            picked = np.concatenate([first, np.full(length - len(first), first[0], dtype=np.int64)])
            columns[name] = pd.Series(values[picked], dtype=object)
        else:  # a placeholder: no expectation on this column runs over the distinct frame
            columns[name] = pd.Series(values[:length], dtype=combined[name].dtype)
    distinct = pd.DataFrame(columns, index=pd.RangeIndex(length), columns=list(combined.columns))
    by_value = {k for name in codes for k in by_column[name]}
    on_distinct = tuple(k for k in keys if kinds[k] == "columns" or k in by_value)
    on_rows = tuple(k for k in keys if k not in on_distinct)
    needed = [FILE_COLUMN] + [c for c in combined.columns if c != FILE_COLUMN and any(
        c in _columns(suite_dict(k[0])["expectations"][k[1]]) for k in on_rows)]
    counts = {name: len(first) for name, first in firsts.items()}
    return _DistinctPlan(distinct, codes, counts, on_distinct, combined[needed], on_rows)


def _failing_by_distinct_values(combined: pd.DataFrame, plan: _DistinctPlan, kinds: dict[Key, str], *,
                                keep_mostly: bool) -> dict[Key, Outcome]:
    """What :func:`_failing` gives for ``combined`` (``mostly`` left to the per-file step), computed as the
    plan says: row positions of an expectation over distinct values are every row holding a value GE
    found unexpected. Caller holds ``_LOCK``."""
    out = _failing(plan.rows, plan.on_rows, keep_mostly=keep_mostly) if plan.on_rows else {}
    found = _failing(plan.distinct, plan.on_distinct) if plan.on_distinct else {}
    for key, outcome in found.items():
        column = outcome.column
        if outcome.error or column not in plan.codes or kinds[key] != "rows":
            out[key] = outcome  # table-level (column set) or could not run: not a matter of rows
            continue
        bad = np.asarray(outcome.rows, dtype=np.int64)
        bad = np.unique(np.where(bad < plan.counts[column], bad, 0))  # the padding repeats value 0
        rows = np.flatnonzero(np.isin(plan.codes[column], bad))
        out[key] = replace(outcome, rows=[int(r) for r in rows], unexpected_count=len(rows),
                           element_count=len(combined))
    return out


def _file_numbers(lengths: list[int]) -> list[int]:
    """Each row's file number (0, 0, 1, 1, 1, ...) for the private FILE_COLUMN."""
    return [i for i, n in enumerate(lengths) for _ in range(n)]


def _stack_cells(frames: list[pd.DataFrame], columns: list[str]) -> np.ndarray:
    """The cells of ``frames`` one after another as one object array, in ``columns`` order.

    WHY one array per frame, not one Series per frame and column: a national group is ≈290 frames of
    ≈30 columns, and ~9 000 column lookups plus conversions cost ≈0.15 s; a frame's cells in one
    ``to_numpy`` are the same values (every file of a group has the same column set, possibly in
    another order, which the column selection puts right)."""
    parts = [(f if list(f.columns) == columns else f[columns]).to_numpy(dtype=object) for f in frames]
    return np.concatenate(parts) if parts else np.empty((0, len(columns)), dtype=object)


def _file_outcome(key: Key, kind: str, combined: Outcome | None, n_rows: int, rows: list[int] | None,
                  considered: int | None) -> Outcome:
    """One file's share of a batch outcome, computed as GE computes it for a file on its own.

    ``rows``: the file's unexpected rows (file positions) of a row-wise outcome; ``considered``: the
    file's non-null count of the expectation's column.
    """
    exp = suite_dict(key[0])["expectations"][key[1]]
    passed = _passed(*key)
    if kind == "row_count":
        low, high = exp["kwargs"].get("min_value"), exp["kwargs"].get("max_value")
        ok = (low is None or n_rows >= low) and (high is None or n_rows <= high)
        return replace(passed, success=ok, observed=n_rows)
    if combined is None:  # passed for the whole batch, hence for every file (nothing unexpected anywhere)
        return passed
    if combined.error or kind == "columns":
        observed = combined.observed
        if isinstance(observed, list):
            observed = [c for c in observed if c != FILE_COLUMN]
        return replace(combined, observed=observed)
    rows = rows or []
    unexpected = len(rows)
    if exp["type"] == "expect_column_values_to_not_be_null" or "column" not in exp["kwargs"]:
        considered = denominator = n_rows  # GE filters no nulls for these (compound key: ignore_row_if never)
    else:
        considered = denominator = considered or 0
    mostly = exp["kwargs"].get("mostly")
    if considered == 0:
        success = True  # GE: vacuously true
    elif mostly is None:
        success = unexpected == 0
    else:
        success = (float(considered) - float(unexpected)) / float(considered) >= mostly  # GE's _mostly_success
    percent = unexpected / denominator * 100 if n_rows > 0 and denominator > 0 else None
    return replace(combined, success=success, rows=rows, unexpected_count=unexpected, element_count=n_rows,
                   observed=percent)
