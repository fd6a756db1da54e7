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
        "is_divided_by_gender": k.divided_by_gender,
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


def release_rows(figures: pd.DataFrame, period: str) -> pd.DataFrame:
    """Rows of ``figures`` that belong in a release of ``period`` (quarters ≤ it, years ≤ its year),
    sorted by kpi, municipality, period, gender."""
    release = Quarter.parse(period)

    def included(p: str) -> bool:
        return Quarter.parse(p) <= release if is_quarter(p) else int(p) <= release.year

    periods = figures["period"].astype(str)
    keep = {p: included(p) for p in periods.unique()}
    rows = figures[periods.map(keep).astype(bool)]
    order = {g: i for i, g in enumerate(GENDER_ORDER)}
    rows = rows.assign(_g=rows["gender"].map(order))
    return rows.sort_values(["kpi", "municipality", "period", "_g"], kind="stable").drop(columns="_g")


def _value(value: Any, status: str) -> float | None:
    """Rounded to one decimal; None unless published."""
    if status != "" or value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    return round(float(value), 1)


def data_document(rows: pd.DataFrame, period_type: str) -> dict[str, Any]:
    """Kolada v3 data shape. ``count`` is Kolada's: the number of municipalities behind the value — always 1
    for a kommun, län or Riket, also when the value is hidden or missing (Kolada: count differs from 1 only
    for a municipality group, where it is the number of members with a value). Never a case count."""
    part = rows[rows["period_type"] == period_type]
    values: list[dict[str, Any]] = []
    last = None
    columns = [part[c].tolist() for c in ("kpi", "municipality", "period", "gender", "status", "value")]
    for kpi, muni, period, gender, status, value in zip(*columns, strict=True):  # rows arrive sorted
        if (kpi, muni, period) != last:
            last = (kpi, muni, period)
            values.append({"kpi": kpi, "municipality": muni,
                           "period": int(period) if period_type == "year" else period, "values": []})
        rounded = _value(value, status)
        values[-1]["values"].append({"gender": gender, "count": 1, "status": status,
                                     "value": rounded, "isdeleted": False})
    return _page(values)


def safe_cell(text: str) -> str:
    """Formula-injection guard: prefix an apostrophe to a cell a spreadsheet could run as a formula."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text) and text not in SAFE_STATUS:
        return "'" + text
    return text


def csv_bytes(rows: pd.DataFrame, period_type: str, year_status: dict[int, str]) -> bytes:
    """One row per kpi × municipality × period × gender; ``preliminary`` from the year's status."""
    part = rows[rows["period_type"] == period_type]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    prel = {p: "true" if year_status.get(int(str(p)[:4]), "preliminary") == "preliminary" else "false"
            for p in part["period"].unique()}
    columns = [part[c].tolist() for c in ("kpi", "municipality", "municipality_type", "period", "gender",
                                          "value", "status")]
    for kpi, muni, mtype, period, gender, value, status in zip(*columns, strict=True):
        rounded = _value(value, status)
        cells = [kpi, muni, mtype, str(period), gender, "" if rounded is None else repr(rounded), status,
                 prel[period]]
        writer.writerow([safe_cell(c) for c in cells])
    return buffer.getvalue().encode("utf-8")


def year_status(years: set[int], period: str, preliminary_years: set[int] | None = None) -> dict[int, str]:
    """A year is final once its Q4 is at or before the release period; an explicitly listed year stays
    preliminary (e.g. when the coordinator knows late revisions are coming)."""
    release = Quarter.parse(period)
    forced = preliminary_years or set()
    return {y: "final" if Quarter(y, 4) <= release and y not in forced else "preliminary" for y in sorted(years)}
