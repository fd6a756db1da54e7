"""A realistic stand-in for ``mart_key_figures``, for tests and benchmarks of disclosure and release.

WHY: disclosure control must be tested on data with the real structure — many small municipalities
with 1–4 cases, län = Σ kommuner, Riket = Σ län, T = K + M + annat/okänt, and the cross-KPI identities
of the catalogue (SUKF02 = SUKF18 / SUKF01, SUKF16 = SUKF01 M / (K + M + annat)) — before the dbt mart
exists. Only aggregated, synthetic numbers; no case rows are created.

Counts of events dated inside the period (opened/closed in the period) add up over quarters, so a
year figure of those KPIs is the sum of that year's simulated quarters — the identity an attacker
uses (year − published quarters = hidden quarter) must hold in the test data too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.contract.dictionary import RIKET_ID, municipalities
from pipeline.contract.kpis import KPIS, Unit

GENDERS = ("K", "M", "O")  # O = annat/okänt, counted in T only


def _period_type(period: str) -> str:
    return "quarter" if "Q" in period else "year"


def simulate_mart(periods: list[str], *, seed: int = 1, kommuner: list[str] | None = None,
                  not_submitted: float = 0.1, missing_population: tuple[str, ...] = ()) -> pd.DataFrame:
    """Mart-shaped frame for ``periods`` (e.g. ``['2025Q2', '2025Q3', '2025']``).

    ``kommuner`` limits the country to a few municipalities (small tests); ``not_submitted`` is the
    share of municipality × period that did not submit; ``missing_population`` lists kommunkoder whose
    population is unknown (their rates, and their län's and Riket's, become NULL).
    """
    rng = np.random.default_rng(seed)
    munis = [m for m in municipalities() if kommuner is None or m.kod in kommuner]
    scale = {m.kod: float(rng.lognormal(2.6, 1.1)) for m in munis}
    population = {m.kod: {"K": int(scale[m.kod] * 900 + 1000), "M": int(scale[m.kod] * 880 + 950)} for m in munis}
    rows: list[dict] = []
    for period in periods:
        factor = 3.0 if _period_type(period) == "year" else 1.0
        for m in munis:
            if rng.random() < not_submitted:
                continue
            n = {g: int(rng.poisson(scale[m.kod] * factor * w)) for g, w in zip(GENDERS, (0.8, 0.2, 0.03), strict=True)}
            rows += _kommun_rows(rng, m.kod, period, n, None if m.kod in missing_population else population[m.kod])
    kommun = _years_as_sum_of_quarters(pd.DataFrame(rows))
    lan_of = {m.kod: m.lan_id for m in munis}
    kommun["lan"] = kommun["municipality"].map(lan_of)
    # Sum with min_count so one missing population makes the aggregate's population missing.
    agg = {"numerator": ("numerator", "sum"), "denominator": ("denominator", lambda s: s.sum(min_count=len(s)))}
    lan = kommun.groupby(["kpi", "lan", "period", "gender"], as_index=False).agg(**agg).rename(
        columns={"lan": "municipality"})
    riket = lan.groupby(["kpi", "period", "gender"], as_index=False).agg(**agg).assign(municipality=RIKET_ID)
    cells = pd.concat([kommun.drop(columns="lan").assign(municipality_type="K"),
                       lan.assign(municipality_type="L"), riket.assign(municipality_type="L")], ignore_index=True)
    return _finish(cells)


def _years_as_sum_of_quarters(kommun: pd.DataFrame) -> pd.DataFrame:
    """Year rows of period-dated KPIs := Σ of that year's quarter rows (denominator too, for shares)."""
    from pipeline.keyfigures.disclosure import period_additive_kpis  # late: keyfigures imports nothing here

    dated = set(period_additive_kpis())
    is_year = kommun["period"].map(_period_type).eq("year")
    quarters = kommun[~is_year & kommun["kpi"].isin(dated)].assign(year=lambda f: f["period"].str[:4])
    keys = ["kpi", "municipality", "gender", "year"]
    sums = quarters.groupby(keys, as_index=False).agg(
        q_num=("numerator", "sum"), q_den=("denominator", lambda s: s.sum(min_count=1)))
    years = kommun[is_year & kommun["kpi"].isin(dated)].assign(year=lambda f: f["period"])
    years = years.merge(sums, on=keys, how="left")
    has_quarters = years["q_num"].notna().to_numpy()
    share = years["kpi"].map(lambda k: next(x.unit for x in KPIS if x.id == k) is Unit.PERCENT).to_numpy()
    years.loc[has_quarters, "numerator"] = years.loc[has_quarters, "q_num"].astype("int64")
    years.loc[has_quarters & share, "denominator"] = years.loc[has_quarters & share, "q_den"]
    years = years.drop(columns=["year", "q_num", "q_den"])
    return pd.concat([kommun[~(is_year & kommun["kpi"].isin(dated))], years], ignore_index=True)


def _kommun_rows(rng: np.random.Generator, kod: str, period: str, n: dict[str, int],
                 pop: dict[str, int] | None) -> list[dict]:
    """Numerator/denominator per kpi × gender (K, M, O) for one municipality and period."""
    insats = {g: int(rng.binomial(n[g], 0.8)) for g in GENDERS}
    goal = {g: int(rng.binomial(n[g], 0.15)) for g in GENDERS}
    out = []
    for kpi in KPIS:
        for g in GENDERS:
            if kpi.id == "SUKF01":
                num, den = n[g], None
            elif kpi.id in ("SUKF18", "SUKF02"):
                num, den = insats[g], (n[g] if kpi.unit is Unit.PERCENT else None)
            elif kpi.id in ("SUKF19", "SUKF03"):
                num, den = goal[g], (goal[g] + int(rng.binomial(n[g] - goal[g], 0.2))
                                     if kpi.unit is Unit.PERCENT else None)
            elif kpi.id == "SUKF16":
                num, den = (n["M"] if g == "M" else 0), n[g]  # summed to T: M / (K + M + O)
            elif kpi.unit is Unit.RATE:
                num, den = int(rng.binomial(n[g], 0.4)), None
            else:
                den = int(rng.binomial(n[g], 0.9))
                num, den = int(rng.binomial(den, 0.3)), den
            if kpi.unit is Unit.RATE:
                den = None if pop is None else (pop.get(g, 0))
            out.append({"kpi": kpi.id, "municipality": kod, "period": period, "gender": g,
                        "numerator": num, "denominator": den})
    return out


def _finish(cells: pd.DataFrame) -> pd.DataFrame:
    """Add T = K + M + O, drop O, compute values like the mart does."""
    units = {k.id: k.unit for k in KPIS}
    by_gender = {k.id: k.divided_by_gender for k in KPIS}
    keys = ["kpi", "municipality", "municipality_type", "period"]
    total = cells.groupby(keys, as_index=False).agg(
        numerator=("numerator", "sum"), denominator=("denominator", lambda s: s.sum(min_count=len(s))))
    total["gender"] = "T"
    frame = pd.concat([cells[cells["gender"].isin(["K", "M"])], total], ignore_index=True)
    frame = frame[frame["kpi"].map(by_gender) | (frame["gender"] == "T")]
    unit = frame["kpi"].map(units)
    num = frame["numerator"].astype(float)
    den = pd.to_numeric(frame["denominator"], errors="coerce")
    value = np.where(unit == Unit.COUNT, num,
                     np.where(unit == Unit.RATE, num / den * 10_000, np.where(den > 0, num / den * 100, np.nan)))
    frame = frame.assign(
        period_type=frame["period"].map(_period_type),
        numerator=frame["numerator"].astype("int64"),
        denominator=pd.array([None if (u is Unit.COUNT or pd.isna(d)) else int(d) for u, d in zip(unit, den,
                                                                                                strict=True)],
                             dtype="Int64"),
        value=pd.Series(value, index=frame.index).where(lambda v: ~np.isnan(v), None),
    )
    cols = ["kpi", "municipality", "municipality_type", "period", "period_type", "gender",
            "numerator", "denominator", "value"]
    return frame[cols].sort_values(["kpi", "municipality", "period", "gender"]).reset_index(drop=True)
