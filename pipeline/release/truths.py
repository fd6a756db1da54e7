"""True values behind each published vintage, kept in restricted storage for the publish gate's LP audit.

WHY: the criterion of issue 9 protects quantities whose true value is 1–4 cases; the LP audit judges an
earlier vintage's quantity by that criterion only if it knows the value (``audit.truth_values``), else by
the stricter one (every interval that meets 1–4), which nationally flags thousands of harmless narrow
intervals around true zeros. The marts of earlier vintages are gone after the next load, so the gate keeps
the audit's own counts per vintage and calendar year here. They are case-derived counts: restricted, like
the accepted rows, and never published, logged or served.

Layout: ``restricted/truths/<vintage>/<year>.parquet`` (quantity, region, period, gender, value). A vintage
that carried a year over from the one before has no file for it: the latest earlier file is that year's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipeline.release.audit import truth_values
from pipeline.settings import Paths

Truth = dict[tuple[str, str, str, str], float]
COLUMNS = ["quantity", "region", "period", "gender", "value"]


def candidate(figures: pd.DataFrame) -> Truth:
    """The candidate's true values (its unsuppressed figures, as the audit's own model reads them)."""
    return truth_values(figures) if len(figures) else {}


def save(paths: Paths, vintage: str, truth: Truth) -> None:
    """One file per calendar year of ``truth`` under the vintage's name (written after it is published; the
    folder is made even for no values, so that ``load`` knows the vintage's years were saved).

    Built column by column and written by DuckDB from NumPy arrays (a national vintage has ≈ 70 000
    values: a frame of tuples and a pandas group per year cost twice as much)."""
    keys = list(truth)
    columns = {name: np.array([k[j] for k in keys], dtype=object) for j, name in enumerate(COLUMNS[:-1])}
    columns["value"] = np.fromiter(truth.values(), dtype=float, count=len(keys))
    target = paths.truths / vintage
    target.mkdir(parents=True, exist_ok=True)
    years = np.array([str(p)[:4] for p in columns["period"]], dtype=object)
    con = duckdb.connect()
    try:
        for year in sorted(set(years.tolist())):
            mine = years == year
            part = pd.DataFrame({name: values[mine] for name, values in columns.items()}, columns=COLUMNS)
            tmp = target / f".{year}.parquet.tmp"
            con.register("part", part)
            con.execute("copy (select * from part) to '" + str(tmp).replace("'", "''") + "' (format parquet)")
            con.unregister("part")
            tmp.replace(target / f"{year}.parquet")
    finally:
        con.close()


def load(paths: Paths, vintages: Sequence[str], years: Collection[str] | None) -> list[Truth | None]:
    """Per vintage (oldest first) its true values for ``years`` (every stored year when None): each year
    from the vintage's own file or the latest earlier one. None for a vintage without its folder (published
    before the gate kept them, or saving failed): the gate then runs bound propagation only
    (``audit_gate.audit_candidate``)."""
    out: list[Truth | None] = []
    latest: dict[str, Path] = {}
    read: dict[Path, Truth] = {}
    for vintage in vintages:
        here = paths.truths / vintage
        if not here.is_dir():  # never saved (older code, or a crash between publishing and saving): unknown,
            out.append(None)   # never the year's earlier values, which may be another vintage's
            continue
        for file in sorted(here.glob("*.parquet")):
            if years is None or file.stem in years:
                latest[file.stem] = file
        truth: Truth = {}
        for file in latest.values():
            if file not in read:
                rows = duckdb.execute("select quantity, region, period, gender, value from read_parquet(?)",
                                      [str(file)]).fetchall()
                read[file] = {(q, r, p, g): float(v) for q, r, p, g, v in rows}
            truth.update(read[file])
        out.append(truth)
    return out
