"""The dictionary is the single source: every derived artefact must match what it renders now."""

from __future__ import annotations

import json

from pipeline.contract import artefacts
from pipeline.contract.dictionary import BY_NAME, VARIABLES
from pipeline.settings import PROJECT_ROOT


def test_no_derived_artefact_is_stale():
    assert artefacts.stale() == [], "run 'sukf artefacts --write' and commit the result"


def test_a_code_list_change_makes_every_derived_artefact_stale(monkeypatch):
    kon = BY_NAME["kon"]
    monkeypatch.setitem(kon.codes, "4", "nytt kön")
    stale = set(artefacts.stale())
    assert {"expectations/submission_errors.json", "dbt_project/models/staging/_generated__stg_cases.yml",
            "docs/DATA_DICTIONARY.md"} <= stale


def test_error_suite_covers_every_code_list():
    suite = json.loads((PROJECT_ROOT / "expectations/submission_errors.json").read_text(encoding="utf-8"))
    in_set = {e["kwargs"]["column"]: set(e["kwargs"]["value_set"]) for e in suite["expectations"]
              if e["type"] == "expect_column_values_to_be_in_set"}
    for var in VARIABLES:
        if var.has_codes and var.kind.value == "code":
            assert in_set[var.name] == set(var.codes), var.name
