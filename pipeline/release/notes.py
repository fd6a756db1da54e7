"""RELEASE_NOTES.md: what changed against the previous release, in Swedish, for people.

WHY: a revised figure appears in a new release, never by editing an old one, so users need to see
exactly which published values are new, revised, newly suppressed or no longer suppressed. The
comparison uses the published CSV files only (never numerators), so the note cannot reveal more than
the releases themselves. Only the list of new values is capped (totals are always given).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

LIST_CAP = 50
Key = tuple[str, str, str, str]  # kpi, municipality, period, gender


@dataclass
class Changes:
    new: list[tuple[Key, str]] = field(default_factory=list)
    revised: list[tuple[Key, str, str]] = field(default_factory=list)
    removed: list[tuple[Key, str]] = field(default_factory=list)
    newly_suppressed: list[Key] = field(default_factory=list)
    no_longer_suppressed: list[tuple[Key, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (len(self.new) + len(self.revised) + len(self.removed) + len(self.newly_suppressed)
                + len(self.no_longer_suppressed))


def read_cells(*csv_files: bytes) -> dict[Key, tuple[str, str]]:
    """(kpi, municipality, period, gender) -> (value, status) from release CSV files."""
    cells: dict[Key, tuple[str, str]] = {}
    for data in csv_files:
        for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
            key = (row["kpi"], row["municipality"], row["period"], row["gender"])
            cells[key] = (row["value"], row["status"])
    return cells


def compare(old: dict[Key, tuple[str, str]], new: dict[Key, tuple[str, str]]) -> Changes:
    changes = Changes()
    for key in sorted(new):
        value, status = new[key]
        old_value, old_status = old.get(key, ("", "-"))
        if status == ".." and old_status != "..":
            changes.newly_suppressed.append(key)
        elif old_status == ".." and value != "":
            changes.no_longer_suppressed.append((key, value))
        elif value != "" and old_value == "":
            changes.new.append((key, value))
        elif value != "" and old_value != "" and float(value) != float(old_value):
            changes.revised.append((key, old_value, value))
        elif value == "" and old_value != "":
            changes.removed.append((key, old_value))
    for key in sorted(set(old) - set(new)):
        if old[key][0] != "":
            changes.removed.append((key, old[key][0]))
    return changes


def _label(key: Key) -> str:
    kpi, muni, period, gender = key
    return f"{kpi} {muni} {period} {gender}"


def _section(title: str, lines: list[str], cap: int | None = None) -> list[str]:
    """A list of changes; only *new* values are capped (a new quarter adds thousands), while
    revisions and suppression changes are always listed in full: they are what users must see."""
    out = [f"## {title}: {len(lines)}", ""]
    out += [f"- {line}" for line in lines[:cap]]
    if cap is not None and len(lines) > cap:
        out.append(f"- … och {len(lines) - cap} till (se data_*.csv)")
    return out + [""]


def render(*, period: str, version: str, created: str, previous: str | None, changes: Changes,
           suppression: dict[str, int], years: dict[int, str]) -> str:
    lines = [f"# Nyckeltal SU-kvinnofrid – publicering {period} {version}", "",
             f"Skapad: {created}", ""]
    lines += ["Jämfört med: " + (previous or "ingen tidigare publicering (första publiceringen)"), ""]
    lines += ["Årsstatus: " + ", ".join(f"{y} {'preliminärt' if s == 'preliminary' else 'slutligt'}"
                                        for y, s in sorted(years.items())), ""]
    lines += [f"Totalt ändrade celler: {changes.total}", ""]
    lines += _section("Nya värden", [f"{_label(k)}: {v}" for k, v in changes.new], cap=LIST_CAP)
    lines += _section("Reviderade värden (gammalt → nytt)", [f"{_label(k)}: {o} → {n}" for k, o, n in changes.revised])
    lines += _section("Borttagna värden", [f"{_label(k)}: {v} → saknas" for k, v in changes.removed])
    lines += _section("Nyligen undertryckta (..)", [_label(k) for k in changes.newly_suppressed])
    lines += _section("Inte längre undertryckta", [f"{_label(k)}: {v}" for k, v in changes.no_longer_suppressed])
    lines += ["## Röjandekontroll", "",
              "Inget värde får bygga på färre än 5 ärenden. Undertryckta värden visas som `..`, saknade som `-`.",
              "",
              f"- publicerade celler: {suppression.get('published', 0)}",
              f"- primärt undertryckta: {suppression.get('primary', 0)}",
              f"- sekundärt undertryckta: {suppression.get('secondary', 0)}",
              f"- saknas (ej inrapporterat eller befolkning saknas): {suppression.get('missing', 0)}", ""]
    return "\n".join(lines)
