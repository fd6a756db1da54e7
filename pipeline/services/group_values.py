"""Values for Kolada municipality groups, computed the way Kolada computes them.

WHY computed at read time and not published: a group value is the unweighted mean of its members'
*published* values (Kolada: "ovägt medel"), so it is a function of public numbers only and can reveal
nothing a reader could not compute from the release; storing it would add 309 × KPIs × periods cells
to every vintage for no new information. ``count`` is Kolada's: the number of members that have a
value (hidden ".." and missing "-" members do not count), so a reader sees how many municipalities the
mean stands on.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.contract.municipality_groups import MunicipalityGroup

GENDER_ORDER = ("K", "M", "T")


def group_entries(group: MunicipalityGroup, member_items: Iterable[dict]) -> list[dict]:
    """Kolada data entries (one per kpi × period) for ``group`` from its members' data entries.

    Genders without any member value are left out, and so is a kpi × period where no member has a
    value — like Kolada, which has no group row where nothing can be averaged.
    """
    members = set(group.member_ids)
    sums: dict[tuple[str, int | str], dict[str, list[float]]] = {}
    order: list[tuple[str, int | str]] = []
    for item in member_items:
        if item["municipality"] not in members:
            continue
        key = (item["kpi"], item["period"])
        if key not in sums:
            sums[key] = {}
            order.append(key)
        for cell in item["values"]:
            if cell.get("status", "") == "" and cell.get("value") is not None:
                sums[key].setdefault(cell["gender"], []).append(float(cell["value"]))
    out = []
    for kpi, period in sorted(order, key=lambda k: (k[0], isinstance(k[1], str), str(k[1]))):
        by_gender = sums[(kpi, period)]
        values = [{"gender": g, "count": len(by_gender[g]), "status": "",
                   "value": round(sum(by_gender[g]) / len(by_gender[g]), 1), "isdeleted": False}
                  for g in GENDER_ORDER if by_gender.get(g)]
        if values:
            out.append({"kpi": kpi, "municipality": group.id, "period": period, "values": values})
    return out
