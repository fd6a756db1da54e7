"""The Great Expectations suites, rendered from the data dictionary as deterministic JSON.

``pipeline.contract.artefacts`` writes them to ``expectations/submission_errors.json`` and
``expectations/submission_warnings.json`` (committed; a test fails when they are stale).
Rendering does not import great_expectations (≈2.6 s): the JSON has the shape of GE 1.x
``ExpectationSuite.to_json_dict()`` and is loaded into GE only when validating.

Every expectation carries ``meta.rule`` (a code of ``pipeline.contract.rule_catalogue``) so a failure
becomes an Issue with the right rule, and ``meta.scope``: ``"file"`` for checks that only make
sense for one submission (row count limits); the national run over all accepted cases skips them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline.contract.dictionary import (
    DICTIONARY_VERSION,
    ID_PATTERN,
    MAX_ROWS,
    MULTI_SEPARATOR,
    UNKNOWN_SHARE_WARNING,
    VARIABLES,
    Kind,
    Required,
    municipality_codes,
)
from pipeline.contract.periods import QUARTER_PATTERN

ERROR_SUITE = "submission_errors"
WARNING_SUITE = "submission_warnings"

PERIOD_PATTERN = f"^{QUARTER_PATTERN}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MONTH_OR_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?$"
UNIQUE_KEY = ("kommunkod", "period", "arende_id")
"""arende_id is unique within a municipality (and quarter); the compound key makes the same
expectation valid for one file and for the national frame of all municipalities."""


def multi_select_pattern(codes: list[str]) -> str:
    """``^(?:A|B)(?:\\|(?:A|B))*$``: one or more known codes separated by ``|``.

    Non-capturing groups: GE runs ``str.contains`` and pandas warns about capturing groups.
    """
    alternatives = "|".join(re.escape(c) for c in sorted(codes, key=lambda c: (-len(c), c)))
    sep = re.escape(MULTI_SEPARATOR)
    return f"^(?:{alternatives})(?:{sep}(?:{alternatives}))*$"


def _code_sort_key(code: str) -> tuple[int, str]:
    return (int(code), code) if code.isdigit() else (10**6, code)


def _exp(type_: str, rule: str, severity: str, scope: str = "all", **kwargs: Any) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": {"rule": rule, "scope": scope}, "severity": severity}


def _suite(name: str, expectations: list[dict[str, Any]], notes: str) -> dict[str, Any]:
    return {
        "name": name,
        "id": None,
        "expectations": expectations,
        "meta": {"generated_from": "pipeline.contract.dictionary", "dictionary_version": DICTIONARY_VERSION},
        "notes": notes,
    }


def _dump(suite: dict[str, Any]) -> str:
    return json.dumps(suite, ensure_ascii=False, indent=2) + "\n"


def error_suite() -> dict[str, Any]:
    """Critical expectations: any failure rejects the submission."""
    crit = "critical"
    # No minimum row count: a header-only file is a valid report of zero cases (a small
    # municipality may have none open in a quarter); a file without even a header is refused by
    # the reader (E_EMPTY_FILE).
    out = [
        _exp("expect_table_row_count_to_be_between", "E_TOO_MANY_ROWS", crit, "file", min_value=0,
             max_value=MAX_ROWS),
    ]
    # One table-level expectation instead of one per column: GE's cost is per expectation.
    # exact_match=false: extra columns (optional, lokal_*) are allowed; its "missing" list names
    # each absent required column.
    required = [v.name for v in VARIABLES if v.required in (Required.YES, Required.COLUMN_ONLY)]
    out.append(_exp("expect_table_columns_to_match_set", "E_MISSING_COLUMN", crit, column_set=required,
                    exact_match=False))
    for var in VARIABLES:
        if var.required is Required.YES:
            out.append(_exp("expect_column_values_to_not_be_null", "E_REQUIRED_VALUE", crit, column=var.name))
    for var in VARIABLES:
        if var.kind is Kind.KOMMUNKOD:
            out.append(_exp("expect_column_values_to_be_in_set", "E_WRONG_KOMMUN", crit, column=var.name,
                            value_set=sorted(municipality_codes())))
        elif var.kind is Kind.PERIOD:
            out.append(_exp("expect_column_values_to_match_regex", "E_WRONG_PERIOD", crit, column=var.name,
                            regex=PERIOD_PATTERN))
        elif var.kind is Kind.ID:
            out.append(_exp("expect_column_values_to_match_regex", "E_BAD_ID", crit, column=var.name,
                            regex=ID_PATTERN))
            out.append(_exp("expect_compound_columns_to_be_unique", "E_DUPLICATE_ID", crit,
                            column_list=list(UNIQUE_KEY)))
        elif var.kind is Kind.CODE:
            out.append(_exp("expect_column_values_to_be_in_set", "E_UNKNOWN_CODE", crit, column=var.name,
                            value_set=sorted(var.codes, key=_code_sort_key)))
        elif var.kind is Kind.MULTI:
            out.append(_exp("expect_column_values_to_match_regex", "E_UNKNOWN_CODE", crit, column=var.name,
                            regex=multi_select_pattern(list(var.codes))))
        elif var.kind is Kind.DATE:
            pattern = MONTH_OR_DATE_PATTERN if var.name == "aktualiseringsdatum" else DATE_PATTERN
            out.append(_exp("expect_column_values_to_match_regex", "E_BAD_DATE", crit, column=var.name,
                            regex=pattern))
    notes = ("Generated from pipeline/contract/dictionary.py by 'sukf artefacts --write'; do not edit. "
             "Values are checked after blank cells became null, surrounding spaces were stripped and "
             "multi-select codes were upper-cased (pipeline.validation.validate.prepare).")
    return _suite(ERROR_SUITE, out, notes)


def warning_suite() -> dict[str, Any]:
    """Warning expectations: reported, never blocking."""
    out = [
        _exp("expect_column_values_to_not_be_in_set", "W_UNKNOWN_SHARE", "warning", column=var.name,
             value_set=[var.unknown_code], mostly=round(1 - UNKNOWN_SHARE_WARNING, 4))
        for var in VARIABLES if var.unknown_code
    ]
    notes = ("Generated from pipeline/contract/dictionary.py by 'sukf artefacts --write'; do not edit. "
             "The share of the unknown code is taken over the rows that have a value.")
    return _suite(WARNING_SUITE, out, notes)


def render_error_suite() -> str:
    return _dump(error_suite())


def render_warning_suite() -> str:
    return _dump(warning_suite())

