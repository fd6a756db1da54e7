"""Published values to show beside an own figure: the län, Riket and the similar municipalities.

Only public release cells are read (``pipeline.release.cells.published_cells``), so nothing here
can leak another municipality's unpublished or suppressed data. The group value is the unweighted
mean of the members' *published* values (Kolada's "ovägt medel"); members whose value is
suppressed or missing are left out and the number used is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.contract.dictionary import RIKET_ID, municipalities
from pipeline.contract.groups import Group, similar_group
from pipeline.release.cells import published_cells
from pipeline.settings import Paths


@dataclass(frozen=True)
class Beside:
    """Published comparison values of one KPI × period × gender."""

    lan: float | None
    riket: float | None
    group: float | None
    group_used: int  # members with a published value
    group_size: int


class Comparison:
    """Lookup of published values for one municipality (its län and its similar-municipality group)."""

    def __init__(self, paths: Paths, kommunkod: str, release: str | None = None) -> None:
        self.lan_id = next(m.lan_id for m in municipalities() if m.kod == kommunkod)
        self.group: Group | None = similar_group(kommunkod)
        cells = published_cells(paths, release)
        wanted = {self.lan_id, RIKET_ID, *(self.group.members if self.group else ())}
        cells = cells[cells["municipality"].isin(wanted)]
        self.periods: set[str] = set(cells["period"].astype(str))
        published = cells[cells["status"].eq("") & cells["value"].notna()]
        self._values = {(k, m, str(p), g): float(v) for k, m, p, g, v in zip(
            published["kpi"], published["municipality"], published["period"], published["gender"],
            published["value"], strict=True)}

    def has_period(self, period: str) -> bool:
        """True when the current release holds any comparison cell for ``period``."""
        return period in self.periods

    def beside(self, kpi: str, period: str, gender: str) -> Beside:
        get = self._values.get
        members = self.group.members if self.group else ()
        values = [v for m in members if (v := get((kpi, m, period, gender))) is not None]
        mean = round(float(pd.Series(values).mean()), 1) if values else None
        return Beside(get((kpi, self.lan_id, period, gender)), get((kpi, RIKET_ID, period, gender)), mean,
                      len(values), len(members))
