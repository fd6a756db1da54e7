"""What each calendar year's published figures are computed from, as one digest per year.

WHY per calendar year: every identity the figures, the disclosure control and the audit use stays
inside one calendar year (T = K + M + annat/okänt, kommun → län → Riket, quarters → year, share ×
denominator, rate × that year's population, earlier vintages' values of the same cell). A year whose
inputs did not change therefore gets exactly the same published cells again, and a load only has to
rebuild, disclose, audit and publish the years it touched (issue 12: loading quarter N+1 costs the
same after 4 or after 40 quarters). The digest covers everything a year's cells depend on:

* the accepted version (submission id) per kommun of each of its quarters (the register),
* its population rows (``reference/population_18plus.csv``),
* whether it is closed (final or preliminary values),
* the code and contract that compute and protect the figures (``code_fingerprint``): after an upgrade
  every year is rebuilt once.

Two consumers compare against their own truth: the dbt step against the digests of its last successful
build (``restricted/dbt_target/year_inputs.json``), the publisher against the previous vintage's
manifest (``year_inputs``). A missing record means "everything changed", so the first load of an
installation, a deleted warehouse or a vintage from before this scheme all rebuild in full.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from functools import cache
from pathlib import Path

from pipeline.settings import DBT_PROJECT_DIR, PROJECT_ROOT, Paths

CODE_PARTS = (
    (DBT_PROJECT_DIR, ("models", "macros", "tests", "dbt_project.yml")),
    (PROJECT_ROOT / "pipeline", ("keyfigures", "contract", "release")),
)
"""Source folders/files whose content decides published cells (dbt models, disclosure, contract, writers)."""


@cache
def code_fingerprint() -> str:
    """sha256 over the files that compute, protect and write the figures (cached per process)."""
    digest = hashlib.sha256()
    for root, names in CODE_PARTS:
        for name in names:
            target = root / name
            files = sorted(f for f in target.rglob("*") if f.is_file() and "__pycache__" not in f.parts) \
                if target.is_dir() else [target]
            for f in files:
                digest.update(str(f.relative_to(root)).encode())
                digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def _population_by_year(file: Path) -> dict[int, list[list[str]]]:
    rows: dict[int, list[list[str]]] = defaultdict(list)
    if file.exists():
        for row in csv.DictReader(io.StringIO(file.read_text(encoding="utf-8"))):
            try:
                year = int(row.get("year") or "")
            except ValueError:
                continue
            rows[year].append([str(row.get(c) or "") for c in ("kommunkod", "gender", "population")])
    return {y: sorted(r) for y, r in rows.items()}


def year_digests(paths: Paths, submissions: list[dict], closed_years: set[int]) -> dict[str, str]:
    """Year ("2025") → digest of its inputs, for every year with an accepted submission.

    ``submissions``: the current accepted version per kommun and quarter (``from_warehouse.submissions_used``).
    """
    by_year: dict[str, list[list[str]]] = defaultdict(list)
    for s in submissions:
        by_year[str(s["period"])[:4]].append([str(s["period"]), str(s["kommunkod"]), str(s["submission_id"])])
    population = _population_by_year(paths.population_csv)
    code = code_fingerprint()
    out = {}
    for year, subs in sorted(by_year.items()):
        record = {"submissions": sorted(subs), "population": population.get(int(year), []),
                  "closed": int(year) in closed_years, "code": code}
        out[year] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    return out


def changed_years(now: dict[str, str], before: dict[str, str] | None) -> list[str]:
    """Years whose digest differs (or that appeared or disappeared); every year when ``before`` is None."""
    if before is None:
        return sorted(set(now))
    return sorted(y for y in set(now) | set(before) if now.get(y) != before.get(y))
