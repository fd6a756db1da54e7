"""Own key figures from own accepted cases, without suppression, split as the municipality needs.

WHY not the warehouse: feedback must be available as soon as the quarter's intake has staged the
accepted file, long before (or without) a quarterly dbt load, and the DuckDB warehouse may be held
by dbt. So this reads the staged Parquet of one municipality and rebuilds the same case-period
rows as dbt's ``int_case_periods`` (latest state per case and period, open at some time in the
period, the same flags), then evaluates the KPI catalogue's own SQL conditions
(``pipeline.contract.kpis``) with an in-memory DuckDB: one definition of every key figure.
Values are rounded half-up to one decimal from exact integers, like the published figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.contract.dictionary import BY_NAME, NATIONAL_COLUMNS
from pipeline.contract.kpis import BOENDE_INSATSER, GENDER_OF_KON, KPIS, POPULATION, Kpi, Unit
from pipeline.contract.periods import Quarter

SMALL_BASE = 30
"""Below this many cases a figure is shown but flagged "litet underlag" (the field's rule of thumb
before drawing conclusions from a share or a change)."""

SMALL_TEXT = "litet underlag"
SPLITS = ("enhet_typ", "aldersgrupp", "utrikes_fodd", "hederskontext")
"""Splits beyond gender (gender is in the main tables, beside the published K and M values)."""


@dataclass(frozen=True)
class Figure:
    """One own key figure for one group of cases."""

    kpi: str
    group: str  # "T", "K", "M", or a code of the split variable
    value: float | None
    numerator: int
    denominator: int | None  # None for counts; the population for rates (None if missing)
    base: int  # cases the figure rests on: the denominator of a share, else the group's cases

    @property
    def small(self) -> bool:
        return self.base < SMALL_BASE


def round_half_up(value: Fraction) -> float:
    return float((Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def _dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series.astype("string"), format="%Y-%m-%d", errors="coerce")


def period_bounds(period: str, quarters: list[str]) -> tuple[date, date, list[str]]:
    """(first day, last day, quarters whose files make up the period).

    A year runs from 1 January to the end of its latest loaded quarter in ``quarters`` (year to
    date while incomplete), as in dbt's ``int_submission_periods``.
    """
    if len(period) == 4:
        own = sorted(q for q in quarters if q.startswith(period))
        if not own:
            raise KeyError(period)
        return date(int(period), 1, 1), Quarter.parse(own[-1]).end, own
    if period not in quarters:
        raise KeyError(period)
    q = Quarter.parse(period)
    return q.start, q.end, [period]


def case_periods(quarters: dict[str, pd.DataFrame], period: str) -> pd.DataFrame:
    """One row per case open at some time in ``period`` with its latest state there, and the flags."""
    start, end, used = period_bounds(period, list(quarters))
    frames = [quarters[q].assign(_order=i) for i, q in enumerate(used)]
    cases = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(NATIONAL_COLUMNS))
    cases = cases.sort_values("_order", kind="stable").drop_duplicates("arende_id", keep="last")
    cases = cases.reindex(columns=list(NATIONAL_COLUMNS)).astype(object)
    cases = cases.where(cases.notna(), None)
    opened, closed = _dates(cases["aktualiseringsdatum"]), _dates(cases["avslutsdatum"])
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    keep = (opened <= hi) & (closed.isna() | (closed >= lo))
    cases, opened, closed = cases[keep].copy(), opened[keep], closed[keep]
    insatser = cases["insatser"].fillna("")
    cases["opened_in_period"] = ((opened >= lo) & (opened <= hi)).to_numpy(dtype=bool)
    cases["closed_in_period"] = ((closed >= lo) & (closed <= hi)).fillna(False).to_numpy(dtype=bool)
    cases["has_insats"] = cases["insatser"].notna().to_numpy(dtype=bool)
    cases["has_boende_insats"] = [bool(set(v.split("|")) & set(BOENDE_INSATSER)) for v in insatser]
    return cases.reset_index(drop=True)


GROUPINGS: tuple[str | None, ...] = (None, "kon", *SPLITS)


def count_groups(cases: pd.DataFrame, groupings: tuple[str | None, ...] = GROUPINGS) -> dict[str | None, pd.DataFrame]:
    """Numerator and denominator counts of every KPI per group, for every grouping in one DuckDB query.

    The KPI conditions are the catalogue's own SQL; ``None`` is the whole municipality (group "T").
    One statement for all groupings: DuckDB's cost here is per query, not per row.
    """
    codes = [c for c in NATIONAL_COLUMNS if c not in ("aktualiseringsdatum", "avslutsdatum")]
    flags = ("opened_in_period", "closed_in_period", "has_insats", "has_boende_insats")
    parts = ["count(*) as n_cases"]
    for kpi in KPIS:
        parts.append(f'count_if({kpi.numerator}) as "n_{kpi.id}"')
        if kpi.unit is Unit.PERCENT:
            parts.append(f'count_if({kpi.denominator}) as "d_{kpi.id}"')
    selects = []
    for by in groupings:
        group = f'coalesce("{by}", \'\')' if by else "'T'"
        selects.append(f"select '{by or ''}' as grouping, {group} as grp, {', '.join(parts)} "
                       "from case_periods group by all")
    casts = ", ".join([f'cast("{c}" as varchar) as "{c}"' for c in codes]
                      + [f'cast("{f}" as boolean) as "{f}"' for f in flags])
    con = duckdb.connect()
    try:
        con.register("incoming", cases[list(codes) + list(flags)])
        con.execute(f"create temp view case_periods as select {casts} from incoming")
        frame = con.execute(" union all ".join(selects)).df()
    finally:
        con.close()
    return {by: frame[frame["grouping"] == (by or "")].set_index("grp") for by in groupings}


def _figure(kpi: Kpi, group: str, row: pd.Series | None, population: int | None) -> Figure:
    n_cases = int(row["n_cases"]) if row is not None else 0
    num = int(row[f"n_{kpi.id}"]) if row is not None else 0
    if kpi.unit is Unit.COUNT:
        return Figure(kpi.id, group, float(num), num, None, n_cases)
    if kpi.unit is Unit.RATE:
        assert kpi.denominator == POPULATION
        value = round_half_up(Fraction(num * 10_000, population)) if population else None
        return Figure(kpi.id, group, value, num, population, n_cases)
    den = int(row[f"d_{kpi.id}"]) if row is not None else 0
    value = round_half_up(Fraction(100 * num, den)) if den else None
    return Figure(kpi.id, group, value, num, den, den)


def own_figures(counts: dict[str | None, pd.DataFrame], population: dict[str, int | None]) -> list[Figure]:
    """Every KPI for T, K and M (the published genders; SUKF16 only T), like the published cells.

    ``counts`` from :func:`count_groups`; ``population``: 18+ population of the period's year per
    gender T/K/M (None when not installed).
    """
    total = counts[None].iloc[0] if len(counts[None]) else None
    by_kon = counts["kon"]
    out = []
    for kpi in KPIS:
        out.append(_figure(kpi, "T", total, population.get("T")))
        if not kpi.divided_by_gender:
            continue
        for kon, gender in GENDER_OF_KON.items():
            row = by_kon.loc[kon] if kon in by_kon.index else None
            out.append(_figure(kpi, gender, row, population.get(gender)))
    return out


def split_figures(counts: dict[str | None, pd.DataFrame], variable: str,
                  population_total: int | None) -> list[Figure]:
    """Every KPI per code of ``variable`` (codes in dictionary order, then blank as "").

    Rates use the municipality's whole 18+ population: a group's rate is its share of the
    municipality's rate (the groups add up), since populations by unit or age are not supplied.
    """
    by = counts[variable]
    groups = list(BY_NAME[variable].codes) + ([""] if "" in by.index else [])
    out = []
    for code in groups:
        row = by.loc[code] if code in by.index else None
        out += [_figure(kpi, code, row, population_total) for kpi in KPIS]
    return out


def population_for(population_csv: Path, kommunkod: str, year: int) -> dict[str, int | None]:
    """18+ population per gender from the installed coordinator file (None where it is missing)."""
    out: dict[str, int | None] = {"T": None, "K": None, "M": None}
    try:
        frame = pd.read_csv(population_csv, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.EmptyDataError):
        return out
    if frame.empty:
        return out
    mine = frame[(frame["kommunkod"] == kommunkod) & (frame["year"] == str(year))]
    for gender, population in zip(mine["gender"], mine["population"], strict=True):
        if gender in out and population.isdigit():
            out[gender] = int(population)
    return out
