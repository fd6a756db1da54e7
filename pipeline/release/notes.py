"""What changed between two vintages: RELEASE_NOTES.md for people, changes.csv for machines.

WHY: a revised figure appears in a new vintage, never by editing an old one, so users must see
exactly which published values are new, revised, newly suppressed, no longer suppressed, withdrawn
or became final. The comparison uses the published CSV cells only (never numerators), so a note
cannot reveal more than the vintages themselves. ``changes.csv`` is also what the API's
``from_date`` change feed reads (a withdrawn value is served with ``isdeleted: true``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field

Key = tuple[str, str, str, str]  # kpi, municipality, period, gender
Cell = tuple[str, str, str]  # value, status, preliminary ("true"/"false")
KINDS = {
    "new": "Nya värden",
    "revised": "Reviderade värden (gammalt → nytt)",
    "newly_suppressed": "Nyligen undertryckta (..)",
    "no_longer_suppressed": "Inte längre undertryckta",
    "withdrawn": "Tillbakadragna värden",
    "final": "Blivit slutliga (tidigare preliminära)",
}
LIST_CAP = 200
"""New values are listed per KPI and period as counts (a new quarter adds thousands); every other kind
is listed value by value up to this many per KPI, then counted (all of them are in changes.csv)."""


@dataclass(frozen=True)
class Change:
    key: Key
    kind: str
    old: Cell | None
    new: Cell | None


@dataclass
class Changes:
    items: list[Change] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.items)

    def of(self, kind: str) -> list[Change]:
        return [c for c in self.items if c.kind == kind]

    def counts(self) -> dict[str, int]:
        counted = Counter(c.kind for c in self.items)
        return {kind: counted.get(kind, 0) for kind in KINDS}


def read_cells(*csv_files: bytes) -> dict[Key, Cell]:
    """(kpi, municipality, period, gender) -> (value, status, preliminary) from release CSV files."""
    cells: dict[Key, Cell] = {}
    for data in csv_files:
        for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
            key = (row["kpi"], row["municipality"], row["period"], row["gender"])
            cells[key] = (row["value"], row["status"], row.get("preliminary", "true"))
    return cells


def _kind(old: Cell | None, new: Cell | None) -> str | None:
    """The kind of change from ``old`` to ``new`` (None: no published change).

    A cell that did not exist before is "new" whether published or hidden; a cell that disappears or
    becomes missing after having had a value is "withdrawn".
    """
    if old is None:
        return None if new is None or (new[0] == "" and new[1] == "-") else "new"
    old_value, old_status, old_prel = old
    value, status, prel = new or ("", "-", old_prel)
    if status == ".." and old_status != "..":
        return "newly_suppressed"
    if status == "-" and old_status != "-":
        return "withdrawn"
    if old_status == ".." and value != "":
        return "no_longer_suppressed"
    if value != "" and old_value == "":
        return "new"
    if value == "" and old_value != "":
        return "withdrawn"
    if value != "" and float(value) != float(old_value):
        return "revised"
    if (old_status, old_prel) != (status, prel):
        return "final" if prel == "false" else "revised"
    return None


def compare(old: dict[Key, Cell], new: dict[Key, Cell]) -> Changes:
    changes = Changes()
    for key in sorted(set(old) | set(new)):
        kind = _kind(old.get(key), new.get(key))
        if kind is not None:
            changes.items.append(Change(key, kind, old.get(key), new.get(key)))
    return changes


CHANGE_COLUMNS = ("kpi", "municipality", "period", "gender", "change", "old_value", "old_status", "value", "status")


def changes_csv(changes: Changes) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CHANGE_COLUMNS)
    for c in changes.items:
        old, new = c.old or ("", "-", ""), c.new or ("", "-", "")
        writer.writerow([*c.key, c.kind, old[0], old[1], new[0], new[1]])
    return buffer.getvalue().encode("utf-8")


def read_changes(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _describe(c: Change) -> str:
    kpi, muni, period, gender = c.key
    old, new = c.old or ("", "-", ""), c.new or ("", "-", "")
    shown = {"revised": f"{old[0] or old[1]} → {new[0] or new[1]}", "no_longer_suppressed": f".. → {new[0]}",
             "withdrawn": f"{old[0]} → {new[1] or 'saknas'}", "newly_suppressed": f"{old[0] or old[1]} → ..",
             "final": f"{new[0] or new[1]} (slutligt)"}.get(c.kind, new[0])
    return f"{muni} {period} {gender}: {shown}"


def _submission_lines(subs: list[dict]) -> list[str]:
    """First versions are counted per quarter; resubmissions (version 2+) are named, as they revise values."""
    if not subs:
        return []
    first = Counter(s["period"] for s in subs if int(s.get("version") or 1) == 1)
    resent = sorted((s for s in subs if int(s.get("version") or 1) > 1), key=lambda s: (s["period"], s["kommunkod"]))
    lines = ["Nya inlämningar: " + ", ".join(f"{p}: {n} kommuner" for p, n in sorted(first.items()))] if first else []
    if resent:
        lines.append("Nya versioner (rättelser): " + ", ".join(
            f"{s['kommunkod']} {s['period']} v{s['version']}" for s in resent))
    return [*lines, ""]


def render(*, vintage: str, created: str, previous: str | None, changes: Changes, reason: dict,
           closed_years: set[int], periods: list[str], information_loss: dict, design: str) -> str:
    """Totals first, then per KPI: counts of new values by period, and each other change by municipality."""
    lines = [f"# Nyckeltal SU-kvinnofrid – årgång {vintage}", "", f"Skapad: {created}", "",
             "Jämfört med: " + (previous or "ingen tidigare årgång (första publiceringen)"), ""]
    if reason.get("text"):
        lines += [f"Anledning: {reason['text']}", ""]
    lines += _submission_lines(reason.get("submissions") or [])
    lines += ["Perioder: " + ", ".join(periods), ""]
    years = sorted({int(p[:4]) for p in periods})
    lines += ["Status per år: " + ", ".join(f"{y} {'slutligt' if y in closed_years else 'preliminärt'}"
                                            for y in years), ""]
    counts = changes.counts()
    lines += [f"## Totalt ändrade värden: {changes.total}", ""]
    lines += [f"- {title}: {counts[kind]}" for kind, title in KINDS.items()] + [""]

    by_kpi: dict[str, list[Change]] = defaultdict(list)
    for c in changes.items:
        by_kpi[c.key[0]].append(c)
    for kpi in sorted(by_kpi):
        items = by_kpi[kpi]
        lines += [f"## {kpi}: {len(items)} ändrade värden", ""]
        new_by_period = Counter(c.key[2] for c in items if c.kind == "new")
        if new_by_period:
            lines += ["Nya värden per period: " + ", ".join(f"{p} {n}" for p, n in sorted(new_by_period.items())), ""]
        for kind, title in KINDS.items():
            if kind == "new":
                continue
            listed = sorted((c for c in items if c.kind == kind), key=lambda c: (c.key[1], c.key[2], c.key[3]))
            if not listed:
                continue
            lines += [f"### {title}: {len(listed)}", ""]
            lines += [f"- {_describe(c)}" for c in listed[:LIST_CAP]]
            if len(listed) > LIST_CAP:
                lines.append(f"- … och {len(listed) - LIST_CAP} till (se changes.csv)")
            lines.append("")
    lines += ["## Röjandekontroll", "",
              "Inget värde får bygga på färre än 5 ärenden. Undertryckta värden visas som `..`, saknade som `-`.", ""]
    if design:
        lines += [design.strip(), ""]
    for name, value in sorted(information_loss.items()):
        if isinstance(value, int | float | str):
            lines.append(f"- {name}: {value}")
    lines.append("")
    return "\n".join(lines)
