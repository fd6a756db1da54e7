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
  file's two suites share one batch and one pass. Measured: ≈0.45 s → ≈0.2 s per clean file;
  a generated quarter of 290 files (3 674 rows) took 66 s CPU end to end through
  ``validate_submission``, almost all of it inside GE.
- GE is not documented as thread-safe; the upload service may validate concurrently, so calls are
  serialised with a lock (one validation takes tens of milliseconds).

The Dagster layer uses :func:`run_suite` on the combined national frame of a quarter and turns
the :class:`SuiteResult` into asset checks (critical suite → ERROR, warning suite → WARN).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any

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
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("sukf").add_dataframe_asset("frame")
    return gx, asset.add_batch_definition_whole_dataframe("whole")


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
    with _LOCK:
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


def run_file_suites(frame: pd.DataFrame) -> tuple[SuiteResult, SuiteResult]:
    """Both suites for one submission, in one GE pass: (errors, warnings)."""
    results = run_suites([ERROR_SUITE, WARNING_SUITE], frame, scope=SCOPE_FILE)
    return results[ERROR_SUITE], results[WARNING_SUITE]
