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
    folder is made even for no values, so that ``load`` knows the vintage's years were saved)."""
    frame = pd.DataFrame([(*key, value) for key, value in truth.items()], columns=COLUMNS)
    target = paths.truths / vintage
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        for year, part in frame.groupby(frame["period"].astype(str).str[:4]):
            tmp = target / f".{year}.parquet.tmp"
            con.register("part", part)
            con.execute("copy part to '" + str(tmp).replace("'", "''") + "' (format parquet)")
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
