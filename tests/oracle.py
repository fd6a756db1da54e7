"""Independent pandas/Python computation of every key figure in KEY_FIGURES.md.

Written from the spec's plain-language definitions, deliberately WITHOUT reading the dbt SQL or the
SQL condition strings of ``pipeline.contract.kpis``: if both implementations agree on every row,
a mistake would have to be made twice in the same way. It reads the generator's raw cases (strings,
blank = missing, dates possibly ``YYYY-MM``) and normalises them itself.

Interpretations (the spec's table is terse; these follow the KPI titles and descriptions):
- "closed" means avslutsdatum inside the period; the brukar figures (SUKF13/14/15) and SUKF03/04
  count only cases closed in the period.
- "≠ 99" means a known answer: a blank value is neither 99 nor known, so it is not in the denominator.
- A case counts in a period only if it was open at some time in it (opened on or before the period's
  end, not closed before its start), whatever file it was reported in.
- A case belongs to a year when it is in any loaded quarter of that year; its state is the row of
  the latest such quarter. A year runs to the end of the municipality's latest loaded quarter
  (year-to-date). Län and Riket add up submitted municipalities only, population too;
  a region's population is missing if any of its submitted municipalities lacks one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pandas as pd

from pipeline.contract.dictionary import municipalities

Case = dict[str, object]

# --- the catalogue, as written in KEY_FIGURES.md -----------------------------------------------------

GOAL = {"1", "2"}
STANDARD_RISK = {"1", "2", "3", "4"}
BOENDE = {"SKYB", "TILLB", "BOST"}


def _known(value: object) -> bool:
    return value is not None and value != "99"


@dataclass(frozen=True)
class OracleKpi:
    id: str
    unit: str  # "rate" | "count" | "percent"
    numerator: Callable[[Case], bool]
    denominator: Callable[[Case], bool] | None = None  # percent only
    by_gender: bool = True


ORACLE_KPIS: tuple[OracleKpi, ...] = (
    OracleKpi("SUKF17", "rate", lambda c: c["opened"]),
    OracleKpi("SUKF18", "rate", lambda c: c["has_insats"]),
    OracleKpi("SUKF19", "rate", lambda c: c["closed"] and c["has_insats"] and c["maluppfyllelse"] in GOAL),
    OracleKpi("SUKF01", "count", lambda c: True),
    OracleKpi("SUKF02", "percent", lambda c: c["has_insats"], lambda c: True),
    OracleKpi("SUKF03", "percent", lambda c: c["closed"] and c["has_insats"] and c["maluppfyllelse"] in GOAL,
              lambda c: c["closed"] and c["has_insats"] and _known(c["maluppfyllelse"])),
    OracleKpi("SUKF04", "percent", lambda c: c["closed"] and c["vald_efter"] == "1",
              lambda c: c["closed"] and _known(c["vald_efter"])),
    OracleKpi("SUKF05", "percent", lambda c: c["riskbedomning"] in STANDARD_RISK, lambda c: _known(c["riskbedomning"])),
    OracleKpi("SUKF06", "percent", lambda c: c["hederskontext"] == "1", lambda c: _known(c["hederskontext"])),
    OracleKpi("SUKF07", "percent", lambda c: c["mycket_grovt_vald"] == "1", lambda c: _known(c["mycket_grovt_vald"])),
    OracleKpi("SUKF08", "percent", lambda c: c["hemmavarande_barn"] == "1", lambda c: _known(c["hemmavarande_barn"])),
    OracleKpi("SUKF09", "percent", lambda c: c["aktualisering_vag"] == "3", lambda c: _known(c["aktualisering_vag"])),
    OracleKpi("SUKF10", "percent", lambda c: bool(c["insatser"] & BOENDE), lambda c: True),
    OracleKpi("SUKF11", "percent", lambda c: c["aldersgrupp"] in {"4", "5"}, lambda c: _known(c["aldersgrupp"])),
    OracleKpi("SUKF12", "percent", lambda c: c["utrikes_fodd"] == "1", lambda c: _known(c["utrikes_fodd"])),
    OracleKpi("SUKF13", "percent", lambda c: c["closed"] and c["brukar_situation"] in {"1", "2"},
              lambda c: c["closed"] and c["brukar_situation"] in {"1", "2", "3", "4", "5"}),
    OracleKpi("SUKF14", "percent", lambda c: c["closed"] and c["brukar_betydelse"] in {"4", "5"},
              lambda c: c["closed"] and c["brukar_betydelse"] in {"1", "2", "3", "4", "5", "6"}),
    OracleKpi("SUKF15", "percent", lambda c: c["closed"] and c["brukar_situation"] not in (None, "0"),
              lambda c: c["closed"]),
    OracleKpi("SUKF16", "percent", lambda c: c["kon"] == "2", lambda c: c["kon"] in {"1", "2", "3"}, by_gender=False),
)

# --- reading the raw generated cases ------------------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _date(value: object) -> date | None:
    text = _text(value)
    if text is None:
        return None
    parts = [int(p) for p in text.split("-")]
    return date(parts[0], parts[1], parts[2] if len(parts) > 2 else 1)


def _quarter_bounds(quarter: str) -> tuple[date, date]:
    year, q = int(quarter[:4]), int(quarter[-1])
    start = date(year, 3 * q - 2, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def _state(row: Mapping[str, object]) -> Case:
    """One raw row as the oracle's case state (codes as text, None for blank)."""
    case: Case = {k: _text(row.get(k)) for k in (
        "kon", "aldersgrupp", "utrikes_fodd", "hemmavarande_barn", "hederskontext", "mycket_grovt_vald",
        "riskbedomning", "aktualisering_vag", "maluppfyllelse", "vald_efter", "brukar_situation",
        "brukar_betydelse")}
    insatser = _text(row.get("insatser")) or ""
    case["insatser"] = {p.strip().upper() for p in insatser.split("|") if p.strip()}
    case["has_insats"] = bool(case["insatser"])
    case["opened_on"] = _date(row.get("aktualiseringsdatum"))
    case["closed_on"] = _date(row.get("avslutsdatum"))
    return case


def _in(day: object, start: date, end: date) -> bool:
    return isinstance(day, date) and start <= day <= end


# --- the computation ------------------------------------------------------------------------------------


def _round_half_up(value: Fraction) -> float:
    return float((Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def key_figures(cases: Mapping[tuple[str, str], pd.DataFrame], population: pd.DataFrame | None,
                release_period: str | None = None) -> pd.DataFrame:
    """Every key figure, one row per kpi × municipality × period × gender, like mart_key_figures.

    ``value_exact`` (a Fraction, or None) is added so a comparison can tell a genuine difference from
    a floating-point tie at the rounding boundary.
    """
    loaded = {key: frame for key, frame in cases.items() if release_period is None or key[1] <= release_period}
    lan_of = {m.kod: m.lan_id for m in municipalities()}

    # period -> municipality -> case id -> state (the latest state of that case within the period)
    periods: dict[tuple[str, str], dict[str, dict[str, Case]]] = {}
    bounds: dict[tuple[str, str], tuple[date, date]] = {}  # (period, kommun) -> first and last day
    for (kod, quarter), frame in sorted(loaded.items(), key=lambda item: item[0][1]):  # old -> new
        year = quarter[:4]
        bounds[(quarter, kod)] = _quarter_bounds(quarter)
        bounds[(year, kod)] = (date(int(year), 1, 1), _quarter_bounds(quarter)[1])  # old -> new: latest wins
        for period, ptype in ((quarter, "quarter"), (year, "year")):
            bucket = periods.setdefault((period, ptype), {}).setdefault(kod, {})
            for row in frame.to_dict("records"):
                bucket[str(row["arende_id"]).strip()] = _state(row)  # later quarters overwrite

    pop: dict[tuple[str, int, str], int] = {}
    if population is not None:
        for row in population.itertuples(index=False):
            pop[(str(row.kommunkod), int(row.year), str(row.gender))] = int(row.population)

    rows = []
    for (period, ptype), by_kommun in periods.items():
        regions: dict[tuple[str, str], list[str]] = {}
        for kod in by_kommun:
            for region in ((kod, "K"), (lan_of[kod], "L"), ("0000", "L")):
                regions.setdefault(region, []).append(kod)
        for (region, rtype), members in regions.items():
            states = []
            for kod in members:
                start, end = bounds[(period, kod)]
                for state in by_kommun[kod].values():
                    if state["opened_on"] > end or (state["closed_on"] is not None and state["closed_on"] < start):
                        continue  # reported, but not open at any time in the period
                    flagged = dict(state, opened=_in(state["opened_on"], start, end),
                                   closed=_in(state["closed_on"], start, end))
                    states.append(flagged)
            for gender, keep in (("T", lambda c: True), ("K", lambda c: c["kon"] == "1"),
                                 ("M", lambda c: c["kon"] == "2")):
                subset = [c for c in states if keep(c)]
                pops = [pop.get((kod, int(period[:4]), gender)) for kod in members]
                region_pop = None if any(p is None for p in pops) else sum(pops)
                for kpi in ORACLE_KPIS:
                    if gender != "T" and not kpi.by_gender:
                        continue
                    num = sum(1 for c in subset if kpi.numerator(c))
                    if kpi.unit == "count":
                        den, exact = None, Fraction(num)
                    elif kpi.unit == "rate":
                        den = region_pop
                        exact = Fraction(num * 10000, den) if den else None
                    else:
                        den = sum(1 for c in subset if kpi.denominator(c))
                        exact = Fraction(100 * num, den) if den else None
                    value = None if exact is None else (float(exact) if kpi.unit == "count" else _round_half_up(exact))
                    rows.append({"kpi": kpi.id, "municipality": region, "municipality_type": rtype, "period": period,
                                 "period_type": ptype, "gender": gender, "numerator": num, "denominator": den,
                                 "value": value, "value_exact": exact})
    return pd.DataFrame(rows)
