"""Kolada's municipality groups (../shared/spec/municipality_groups.csv), shipped as package data.

WHY Kolada's own ids and members: a consumer who already compares "Liknande kommuner IFO, Arboga,
2024" (G36453) in Kolada must get the same members here, so the file is copied verbatim from Kolada's
v3 metadata and read in exactly one place. The groups are a fixed reference list, not a statistic: they
change only when Kolada revises them (a new copy of the file).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from pipeline.contract.dictionary import municipalities

GROUPS_FILE = Path(__file__).with_name("municipality_groups.csv")
SIMILAR_IFO = "liknande_kommuner_ifo"
SKR_GROUP = "skr_kommungrupp_2023"


@dataclass(frozen=True)
class MunicipalityGroup:
    id: str
    title: str
    kind: str  # liknande_kommuner_ifo | skr_kommungrupp_2023 | storleksklass | alla_kommuner
    members: tuple[tuple[str, str], ...]  # (kommunkod, namn) in file order

    @cached_property
    def member_ids(self) -> tuple[str, ...]:
        # cached: the ranking download asks once per kommun for its group's members (290 times a table)
        return tuple(m for m, _ in self.members)

    def kolada(self) -> dict:
        """The /v3/municipality_groups shape: id, title, members [{member_id, member_title}] (Kolada v3)."""
        return {"id": self.id, "title": self.title,
                "members": [{"member_id": m, "member_title": t} for m, t in self.members]}


@cache
def municipality_groups() -> dict[str, MunicipalityGroup]:
    """Every group by id, in file order."""
    rows: dict[str, list[dict[str, str]]] = {}
    with GROUPS_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["group_id"], []).append(row)
    return {gid: MunicipalityGroup(gid, part[0]["group_title"], part[0]["kind"],
                                   tuple((r["member_id"], r["member_title"]) for r in part))
            for gid, part in rows.items()}


@cache
def similar_group_of() -> dict[str, str]:
    """Kommunkod -> id of its "Liknande kommuner IFO, <kommun>, 2024" group (the group is named after
    the kommun and lists its similar municipalities, not the kommun itself)."""
    out: dict[str, str] = {}
    names = {m.namn: m.kod for m in municipalities()}
    for group in municipality_groups().values():
        if group.kind != SIMILAR_IFO:
            continue
        name = group.title.removeprefix("Liknande kommuner IFO, ").rsplit(", ", 1)[0]
        if name in names:
            out[names[name]] = group.id
    return out


@cache
def skr_group_of() -> dict[str, str]:
    """Kommunkod -> id of its SKR kommungrupp 2023 group."""
    return {m: g.id for g in municipality_groups().values() if g.kind == SKR_GROUP for m in g.member_ids}
