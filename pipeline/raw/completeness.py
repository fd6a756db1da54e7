"""Who has submitted for a quarter: the coordinator's completeness table."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.contract.dictionary import municipalities
from pipeline.raw.register import ACCEPTED, RECEIVED, REJECTED, STATUS_SV, Register
from pipeline.settings import Paths

MISSING = "missing"  # no file at all: not a register status


@dataclass(frozen=True)
class Row:
    kommunkod: str
    kommun: str
    lan: str
    state: str  # accepted | rejected | received | missing
    versions: int
    current_version: int | None


def completeness(paths: Paths, period: str) -> list[Row]:
    register = Register(paths)
    by_kommun: dict[str, list] = {}
    for sub in register.list(period=period):
        by_kommun.setdefault(sub.kommunkod or "?", []).append(sub)
    current = register.current(period)
    rows = []
    for m in municipalities():
        subs = by_kommun.get(m.kod, [])
        if m.kod in current:
            state = ACCEPTED
        elif not subs:
            state = MISSING
        elif all(s.status == REJECTED for s in subs):
            state = REJECTED
        else:
            state = RECEIVED
        cur = current.get(m.kod)
        rows.append(Row(m.kod, m.namn, m.lan, state, len(subs), cur.version if cur else None))
    return rows


def summary(rows: list[Row]) -> dict[str, int]:
    out = dict.fromkeys((ACCEPTED, REJECTED, RECEIVED, MISSING), 0)
    for row in rows:
        out[row.state] += 1
    out["submitted"] = len(rows) - out[MISSING]
    return out


def format_table(rows: list[Row], *, show_all: bool = False) -> str:
    """Plain-text table: totals per län, then every municipality that is not accepted."""
    lines = [f"{'Län':<24}{'inlämnat':>9}{'godkänt':>9}{'avvisat':>9}{'saknas':>8}"]
    by_lan: dict[str, list[Row]] = {}
    for row in rows:
        by_lan.setdefault(row.lan, []).append(row)
    for lan, members in by_lan.items():
        s = summary(members)
        lines.append(f"{lan[:23]:<24}{s['submitted']:>9}{s['accepted']:>9}{s['rejected']:>9}{s['missing']:>8}")
    s = summary(rows)
    lines.append(f"{'Riket':<24}{s['submitted']:>9}{s['accepted']:>9}{s['rejected']:>9}{s['missing']:>8}")
    shown = [r for r in rows if show_all or r.state != ACCEPTED]
    if shown:
        lines += ["", f"{'Kommun':<28}{'status':<10}{'versioner':>10}"]
        labels = {**{k: v.lower() for k, v in STATUS_SV.items()}, MISSING: "saknas"}
        lines += [f"{r.kommunkod} {r.kommun[:22]:<23}{labels[r.state]:<10}{r.versions:>10}" for r in shown]
    return "\n".join(lines)
