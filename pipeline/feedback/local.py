"""The municipality's local variables (lokal_01 … lokal_10): its definition, and its tables.

WHY from the raw file: local variables are never staged (they must not reach national data), so
the only place they exist is the municipality's own archived file. Feedback re-reads the latest
accepted version of the quarter from the restricted archive, with the same reader as validation,
and joins it to the staged national columns by ``arende_id``.

The definition (name and code list per local variable) is uploaded by the municipality as a small
CSV/XLSX with columns ``variabel, namn, kod, etikett`` and kept in restricted storage. It is
checked like a submission: readable, no personnummer-like value, bounded sizes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.contract.dictionary import BY_NAME, LOCAL_VARIABLES
from pipeline.raw import archive
from pipeline.raw.register import Register
from pipeline.settings import Paths
from pipeline.staged.accepted import read_own
from pipeline.submission.reading import UnreadableFile, read_submission
from pipeline.validation.personnummer import find_personnummer, mask

MAX_TEXT = 80
MAX_CODES = 200
MAX_VALUES_SHOWN = 50  # distinct values per table; the rest are summed as "övriga värden"
BLANK = "(tomt)"
OTHER = "övriga värden"
CROSS_DEFAULT = "kon"


class DefinitionError(ValueError):
    """An uploaded definition that cannot be used; the message is Swedish and never echoes values."""


@dataclass
class LocalVariable:
    name: str
    codes: dict[str, str] = field(default_factory=dict)


def _folder(paths: Paths) -> Path:
    return paths.local_definitions


def load_definition(paths: Paths, kommunkod: str) -> dict[str, LocalVariable]:
    file = _folder(paths) / f"{kommunkod}.json"
    if not file.is_file():
        return {}
    doc = json.loads(file.read_text(encoding="utf-8"))
    return {k: LocalVariable(v["name"], dict(v.get("codes", {}))) for k, v in doc.items() if k in LOCAL_VARIABLES}


def parse_definition(data: bytes, filename: str) -> dict[str, LocalVariable]:
    """The definition in an uploaded file, or DefinitionError saying what to fix."""
    try:
        parsed = read_submission(data, filename)
    except UnreadableFile as exc:
        raise DefinitionError(exc.message_sv) from None
    frame = parsed.frame
    if find_personnummer(frame):
        raise DefinitionError("Filen innehåller något som liknar ett personnummer och har inte sparats.")
    missing = [c for c in ("variabel", "namn") if c not in frame.columns]
    if missing:
        raise DefinitionError("Kolumnerna variabel, namn, kod och etikett behövs (saknas: "
                              + ", ".join(missing) + ").")
    out: dict[str, LocalVariable] = {}
    for position, row in enumerate(frame.to_dict("records")):
        line = parsed.row_numbers[position]
        variable = str(row.get("variabel", "")).strip().lower()
        if variable not in LOCAL_VARIABLES:
            raise DefinitionError(f"Rad {line}: variabel ska vara lokal_01 … lokal_10.")
        name, code = str(row.get("namn", "")).strip(), str(row.get("kod", "")).strip()
        label = str(row.get("etikett", "")).strip()
        if any(len(t) > MAX_TEXT for t in (name, code, label)):
            raise DefinitionError(f"Rad {line}: högst {MAX_TEXT} tecken per cell.")
        entry = out.setdefault(variable, LocalVariable(name or variable))
        if name and entry.name == variable:
            entry.name = name
        if code:
            if len(entry.codes) >= MAX_CODES:
                raise DefinitionError(f"Högst {MAX_CODES} koder per variabel.")
            entry.codes[code] = label or code
    if not out:
        raise DefinitionError("Filen innehåller ingen definition.")
    return out


def save_definition(paths: Paths, kommunkod: str, definition: dict[str, LocalVariable]) -> Path:
    target = _folder(paths) / f"{kommunkod}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = {k: {"name": v.name, "codes": v.codes} for k, v in sorted(definition.items())}
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, target)
    return target


def local_cases(paths: Paths, kommunkod: str, period: str) -> pd.DataFrame | None:
    """The quarter's accepted file's local columns joined to its staged national columns.

    None when the quarter has no accepted file. Local values are stripped text ("" = blank).
    """
    sub = Register(paths).current(period).get(kommunkod)
    national = read_own(paths, period, kommunkod)
    if sub is None or national is None:
        return None
    frame = read_submission(archive.load(paths.raw, sub.sha256), sub.original_name).frame
    local = [c for c in LOCAL_VARIABLES if c in frame.columns]
    raw = pd.DataFrame({c: frame[c].astype(str).str.strip() for c in ["arende_id", *local]})
    return national.merge(raw, on="arende_id", how="left")


def _label(definition: dict[str, LocalVariable], variable: str, value: str) -> str:
    if value == "":
        return ""
    var = definition.get(variable)
    return mask(var.codes.get(value, "")) if var else ""


def _ordered_values(values: pd.Series, definition: dict[str, LocalVariable], variable: str) -> list[str]:
    counts = values.value_counts()
    defined = list(definition[variable].codes) if variable in definition else []
    order = [v for v in defined if v in counts.index]
    order += [v for v in counts.index if v not in order]
    return order


def frequency_rows(cases: pd.DataFrame, variable: str,
                   definition: dict[str, LocalVariable]) -> list[list[object]]:
    """[value, label, count, share %] per distinct value (own cases: no suppression)."""
    values = cases[variable].fillna("")
    total = len(values)
    order = _ordered_values(values, definition, variable)
    counts = values.value_counts()
    shown, rest = order[:MAX_VALUES_SHOWN], order[MAX_VALUES_SHOWN:]
    rows: list[list[object]] = [[mask(v) or BLANK, _label(definition, variable, v), int(counts[v]),
                                 round(100 * int(counts[v]) / total, 1)] for v in shown]
    if rest:
        n = int(sum(counts[v] for v in rest))
        rows.append([OTHER, "", n, round(100 * n / total, 1)])
    return rows


def cross_rows(cases: pd.DataFrame, variable: str, national: str,
               definition: dict[str, LocalVariable]) -> tuple[list[str], list[list[object]]]:
    """(column titles, rows): the local variable's values against one national variable's codes."""
    codes = list(BY_NAME[national].codes)
    nat = cases[national].fillna("")
    if (nat == "").any():
        codes.append("")
    local = cases[variable].fillna("")
    order = _ordered_values(local, definition, variable)
    shown, rest = order[:MAX_VALUES_SHOWN], set(order[MAX_VALUES_SHOWN:])
    titles = [f"{c} {BY_NAME[national].codes[c]}" if c else BLANK for c in codes]
    rows = []
    for value in [*shown, *([OTHER] if rest else [])]:
        mask_ = local.isin(rest) if value == OTHER else local == value
        row: list[object] = [OTHER if value == OTHER else (mask(value) or BLANK),
                             "" if value == OTHER else _label(definition, variable, value)]
        row += [int((mask_ & (nat == c)).sum()) for c in codes]
        row.append(int(mask_.sum()))
        rows.append(row)
    return titles, rows
