"""Artefacts derived from the data dictionary and KPI catalogue, and a staleness check.

The dictionary is the single source; these files are generated from it and committed so that
dbt, Great Expectations and readers can use them without running Python. ``sukf artefacts
--check`` (and a test) fails when any of them no longer matches what the dictionary renders.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from pipeline.settings import PROJECT_ROOT

# relative path -> "module:function" returning the file's full text
ARTEFACTS: dict[str, str] = {
    "expectations/submission_errors.json": "pipeline.validation.suites:render_error_suite",
    "expectations/submission_warnings.json": "pipeline.validation.suites:render_warning_suite",
    "dbt_project/models/staging/_generated__stg_cases.yml": "pipeline.contract.dbt_render:render_stg_cases_yml",
    "dbt_project/macros/generated/kpi_catalogue.sql": "pipeline.contract.dbt_render:render_kpi_catalogue_macro",
    "dbt_project/macros/generated/contract.sql": "pipeline.contract.dbt_render:render_contract_macro",
    "docs/DATA_DICTIONARY.md": "pipeline.contract.docs_render:render_data_dictionary",
}


def _renderer(spec: str) -> Callable[[], str]:
    module_name, func_name = spec.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def render_all() -> dict[str, str]:
    return {path: _renderer(spec)() for path, spec in ARTEFACTS.items()}


def stale() -> list[str]:
    """Paths whose committed content differs from what the dictionary renders now."""
    out = []
    for path, text in render_all().items():
        target = PROJECT_ROOT / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            out.append(path)
    return out


def write_all() -> list[str]:
    written = []
    for path, text in render_all().items():
        target = PROJECT_ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf artefacts", description=__doc__)
    parser.add_argument("--write", action="store_true", help="regenerate every derived artefact")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_all():
            print(f"skrev {path}")
        return 0
    bad = stale()
    for path in bad:
        print(f"inaktuell: {path}  (kör 'sukf artefacts --write')")
    if not bad:
        print(f"alla {len(ARTEFACTS)} härledda filer stämmer med dataordlistan")
    return 1 if bad else 0
