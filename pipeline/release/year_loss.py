"""Information loss counted per calendar year, so a load that redoes one year can report the whole vintage.

WHY: the manifest reports, per level and KPI, the share of cells hidden by primary and by secondary
suppression over *every* period (``disclosure.suppression_summary``). An incremental load (issue 12)
discloses only the years whose inputs changed; the other years' published cells are the previous
vintage's, but which hidden cell was primary or secondary is not in the public files. So every vintage
keeps the integer counts per year in its manifest (``information_loss.counts_by_year``; counts of cells,
never values), and the summary is summed from them: the same numbers a run over every period gives.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.keyfigures.disclosure import MISSING, PRIMARY, PUBLISHED, SECONDARY, level_of


def counts_by_year(disclosed: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Year → {"published", "primary", "secondary", "missing", "loss": {level: {kpi: [cells, primary,
    secondary]}}} for the cells of ``disclosed`` (output of ``apply_disclosure``)."""
    frame = pd.DataFrame({
        "year": disclosed["period"].astype(str).str[:4], "kpi": disclosed["kpi"].astype(str),
        "status": disclosed["status"], "primary": disclosed["suppression"].eq(PRIMARY),
        "secondary": disclosed["suppression"].eq(SECONDARY),
    })
    frame["level"] = level_of(disclosed).to_numpy() if len(disclosed) else []
    out: dict[str, dict[str, Any]] = {}
    for year, group in frame.groupby("year", sort=True):
        live = group[group["status"] != MISSING]
        loss: dict[str, dict[str, list[int]]] = {}
        for (level, kpi), cells in live.groupby(["level", "kpi"], sort=True):
            loss.setdefault(str(level), {})[str(kpi)] = [int(len(cells)), int(cells["primary"].sum()),
                                                         int(cells["secondary"].sum())]
        out[str(year)] = {"published": int((group["status"] == PUBLISHED).sum()),
                          "primary": int(group["primary"].sum()), "secondary": int(group["secondary"].sum()),
                          "missing": int((group["status"] == MISSING).sum()), "loss": loss}
    return out


def summary_from_counts(counts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The shape of ``disclosure.suppression_summary`` (shares rounded to 4 decimals), summed over years."""
    summary: dict[str, Any] = {k: sum(int(c[k]) for c in counts.values())
                               for k in ("published", "primary", "secondary", "missing")}
    totals: dict[tuple[str, str], list[int]] = {}
    for year in counts.values():
        for level, kpis in year["loss"].items():
            for kpi, (cells, primary, secondary) in kpis.items():
                t = totals.setdefault((level, kpi), [0, 0, 0])
                t[0], t[1], t[2] = t[0] + cells, t[1] + primary, t[2] + secondary
    loss: dict[str, dict[str, dict[str, float]]] = {}
    for (level, kpi), (cells, primary, secondary) in sorted(totals.items()):
        loss.setdefault(level, {})[kpi] = {"cells": cells, "primary": round(primary / cells, 4),
                                           "secondary": round(secondary / cells, 4)}
    summary["loss"] = loss
    return summary
