"""Kolada v3 shaped documents and CSV files from disclosure-controlled key figures.

WHY a module of pure functions returning bytes: the publish step compares these bytes with the last
release to decide whether anything changed, so every file must be deterministic — sorted rows and
keys, no timestamps — and the exact Kolada v3 shapes (KEY_FIGURES.md) let existing Kolada clients read
our releases unchanged. Only published information goes in: status and value, never numerators,
denominators or the internal ``suppression`` column.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from typing import Any

import pandas as pd

from pipeline.contract import kpis
from pipeline.contract.dictionary import RIKET_ID, RIKET_NAME, counties, municipalities
from pipeline.contract.periods import Quarter, is_quarter
from pipeline.contract.table_design import published_by_gender

GENDER_ORDER = ("K", "M", "T")
CSV_COLUMNS = ("kpi", "municipality", "municipality_type", "period", "gender", "value", "status", "preliminary")
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SAFE_STATUS = frozenset({"-", "..", "."})
"""Kolada's status codes are a fixed vocabulary; a lone ``-`` is not a formula in any spreadsheet."""


def dumps(document: dict[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, UTF-8, one trailing newline — byte-stable for equal content."""
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("utf-8")


def _page(values: list[dict[str, Any]]) -> dict[str, Any]:
    return {"values": values, "count": len(values), "next_url": None, "previous_url": None}


def publ_year(period: str) -> str:
    """Kolada's ``publ_period`` is always a year: the newest year with published values. A release of
    2025Q3 publishes (year-to-date, preliminary) values for 2025, so its publ_period is "2025"."""
    return str(Quarter.parse(period).year) if is_quarter(period) else str(int(period))


def kpi_document(*, publ_period: str, publication_date: str, preliminary: bool) -> dict[str, Any]:
    """The /v3/kpi answer for our catalogue (pipeline.contract.kpis); ``publ_period`` may be given as the
    release quarter and is published as its year."""
    year = publ_year(publ_period)
    values = [{
        "id": k.id,
        "title": k.title,
        "description": k.description,
        "is_divided_by_gender": published_by_gender(k.id),
        "municipality_type": kpis.MUNICIPALITY_TYPE,
        "auspice": kpis.AUSPICE,
        "operating_area": kpis.OPERATING_AREA,
        "perspective": k.perspective,
        "prel_publication_date": publication_date if preliminary else None,
        "publication_date": publication_date,
        "publ_period": year,
        "has_ou_data": False,
    } for k in sorted(kpis.KPIS, key=lambda k: k.id)]
    return _page(values)


def municipality_document() -> dict[str, Any]:
    """The /v3/municipality answer: 290 kommuner (K), 21 län (L) and Riket (0000, type L)."""
    values = [{"id": m.kod, "title": m.namn, "type": "K"} for m in municipalities()]
    values += [{"id": lan, "title": name, "type": "L"} for lan, name in counties().items()]
    values.append({"id": RIKET_ID, "title": RIKET_NAME, "type": "L"})
    return _page(sorted(values, key=lambda v: v["id"]))


def sorted_rows(figures: pd.DataFrame) -> pd.DataFrame:
    """``figures`` sorted by kpi, municipality, period, gender (K, M, T) — the order of every file."""
    order = {g: i for i, g in enumerate(GENDER_ORDER)}
    rows = figures.assign(_g=figures["gender"].map(order))
    return rows.sort_values(["kpi", "municipality", "period", "_g"], kind="stable").drop(columns="_g")


def by_period(figures: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One sorted frame per period (``"2025"``, ``"2025Q3"``): a vintage stores one file pair per period,
    so a period whose values did not change shares its files with the previous vintage."""
    rows = sorted_rows(figures.assign(period=figures["period"].astype(str)))
    return {str(p): part for p, part in rows.groupby("period", sort=True)}


def published_value(value: Any, status: str) -> float | None:
    """The value as published (rounded to one decimal), None unless the status is published."""
    return _value(value, status)


def _value(value: Any, status: str) -> float | None:
    """Rounded to one decimal; None unless published."""
    if status != "" or value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    return round(float(value), 1)


def data_document(rows: pd.DataFrame, *, preliminary: bool) -> dict[str, Any]:
    """Kolada v3 data shape for the rows of one period. ``count`` is Kolada's: the number of municipalities
    behind the value — always 1 for a kommun, län or Riket, also when the value is hidden or missing
    (Kolada: count differs from 1 only for a municipality group, where it is the number of members with a
    value). Never a case count. ``preliminary`` is carried on every value (an extension: Kolada clients
    ignore unknown keys) so a consumer never mistakes a preliminary figure for a final one."""
    values: list[dict[str, Any]] = []
    last = None
    columns = [rows[c].tolist() for c in ("kpi", "municipality", "period", "period_type", "gender", "status",
                                          "value")]
    for kpi, muni, period, period_type, gender, status, value in zip(*columns, strict=True):  # rows arrive sorted
        if (kpi, muni, period) != last:
            last = (kpi, muni, period)
            values.append({"kpi": kpi, "municipality": muni,
                           "period": int(period) if period_type == "year" else str(period), "values": []})
        rounded = _value(value, status)
        values[-1]["values"].append({"gender": gender, "count": 1, "status": status,
                                     "value": rounded, "isdeleted": False, "preliminary": preliminary})
    return _page(values)


def safe_cell(text: str) -> str:
    """Formula-injection guard: prefix an apostrophe to a cell a spreadsheet could run as a formula."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text) and text not in SAFE_STATUS:
        return "'" + text
    return text


def csv_bytes(rows: pd.DataFrame, *, preliminary: bool) -> bytes:
    """One row per kpi × municipality × period × gender of one period, with its ``preliminary`` flag."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    flag = "true" if preliminary else "false"
    columns = [rows[c].tolist() for c in ("kpi", "municipality", "municipality_type", "period", "gender",
                                          "value", "status")]
    for kpi, muni, mtype, period, gender, value, status in zip(*columns, strict=True):
        rounded = _value(value, status)
        cells = [kpi, muni, mtype, str(period), gender, "" if rounded is None else repr(rounded), status, flag]
        writer.writerow([safe_cell(c) for c in cells])
    return buffer.getvalue().encode("utf-8")


def is_final(period: str, closed_years: set[int]) -> bool:
    """A value is final once the coordinator has closed its year (possible only after the year's Q4 is
    loaded); everything else is preliminary and may still be revised by a resubmission."""
    return int(str(period)[:4]) in closed_years
