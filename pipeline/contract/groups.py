"""Kolada's "Liknande kommuner IFO" groups: which municipalities each one is compared with.

WHY here: a municipality's feedback shows, beside its own figure, the value of the group Kolada
calls "Liknande kommuner IFO, <kommun>, 2024" (members chosen by Kolada for structural similarity
in individ- och familjeomsorg; the municipality itself is not a member of its own group). The
member lists are Kolada's real metadata (../shared/spec/municipality_groups.csv, copied next to
this module so an installed package carries them). A group value is the unweighted mean of the
members' published values ("ovägt medel"), as Kolada shows it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipeline.contract.dictionary import municipality_names

SIMILAR_KIND = "liknande_kommuner_ifo"


@dataclass(frozen=True)
class Group:
    id: str
    title: str
    members: tuple[str, ...]


@cache
def _groups(kind: str) -> dict[str, Group]:
    path = Path(__file__).with_name("municipality_groups.csv")
    members: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["kind"] == kind:
                titles[row["group_id"]] = row["group_title"]
                members.setdefault(row["group_id"], []).append(row["member_id"])
    return {gid: Group(gid, titles[gid], tuple(sorted(m))) for gid, m in members.items()}


@cache
def similar_group(kommunkod: str) -> Group | None:
    """The "Liknande kommuner IFO, <name>, …" group of ``kommunkod`` (None if Kolada has none)."""
    name = municipality_names().get(kommunkod)
    if name is None:
        return None
    prefix = f"Liknande kommuner IFO, {name}, "
    found = [g for g in _groups(SIMILAR_KIND).values() if g.title.startswith(prefix)]
    return found[0] if len(found) == 1 else None
