"""The plain-DuckDB floor: every key figure from the staged Parquet in ONE SQL script, nothing else.

What the pipeline's key-figure stage computes (kommun, län and Riket × quarter and year × T/K/M, all
KPIs of the catalogue), written independently of the dbt models as one statement DuckDB runs in one
call: no Dagster, no dbt, no Python per row. The benchmarks time it in the same run as the pipeline
and print each stage as a multiple of it; :func:`compare_with_mart` shows the figures are the same.
Only the KPI expressions come from the contract (``pipeline.contract.kpis``), as they do for dbt.
"""

from __future__ import annotations

import time

import duckdb
import pandas as pd

from pipeline.contract.kpis import KPIS, POPULATION, Unit
from pipeline.settings import PROJECT_ROOT, Paths

BOENDE = ("SKYB", "TILLB", "BOST")  # boende insatser (KEY_FIGURES.md, SUKF10), as in int_case_periods


def floor_sql(paths: Paths) -> str:
    """One SELECT over the staged files, the municipality list and the population file."""
    staged = f"{paths.accepted}/*/*.parquet"
    kommuner = PROJECT_ROOT / "pipeline" / "contract" / "kommuner.csv"
    sums, figures = [], []
    for k in KPIS:
        sums.append(f"sum(({k.numerator})::int) as n_{k.id}")
        if k.unit is Unit.PERCENT:
            sums.append(f"sum(({k.denominator})::int) as d_{k.id}")
        if k.unit is Unit.COUNT:
            denominator, value = "null::bigint", f"n_{k.id}::double"
        elif k.denominator == POPULATION:
            denominator = "pop"
            value = f"case when pop > 0 then round(10000.0 * n_{k.id} / pop, 1) end"
        else:
            denominator = f"d_{k.id}"
            value = f"case when d_{k.id} > 0 then round(100.0 * n_{k.id} / d_{k.id}, 1) end"
        where = "" if k.divided_by_gender else "where gender = 'T'"
        figures.append(f"select '{k.id}' as kpi, municipality, period, gender, n_{k.id}::bigint as numerator, "
                       f"{denominator}::bigint as denominator, ({value})::double as value from totals {where}")
    boende = ", ".join(f"'{c}'" for c in BOENDE)
    return f"""
with files as (
    select regexp_extract(file_name, '([0-9]{{4}}Q[1-4])[/\\\\]([0-9]{{4}})\\.parquet$', 1) as period,
           regexp_extract(file_name, '([0-9]{{4}}Q[1-4])[/\\\\]([0-9]{{4}})\\.parquet$', 2) as kommunkod
    from parquet_file_metadata('{staged}')
),
quarters as (
    select kommunkod, period, left(period, 4)::int as year,
           make_date(left(period, 4)::int, 3 * right(period, 1)::int - 2, 1) as p_start,
           last_day(make_date(left(period, 4)::int, 3 * right(period, 1)::int, 1)) as p_end
    from files where period <> '' and period <= (select max(period) from files where period <> '')
),
submitted as (
    select kommunkod, period, year, p_start, p_end from quarters
    union all
    select kommunkod, year::varchar, year, make_date(year, 1, 1), max(p_end) from quarters group by kommunkod, year
),
rows as (
    select *, left(period, 4)::int as year, kommunkod || ':' || arende_id as case_key,
           aktualiseringsdatum::date as opened, avslutsdatum::date as closed,
           insatser is not null and len(list_intersect(string_split(insatser, '|'), [{boende}])) > 0 as boende
    from read_parquet('{staged}', union_by_name = true)
    where period <= (select max(period) from quarters)
),
states as (
    select *, period as reporting from rows
    union all by name
    select *, year::varchar as reporting from rows
    qualify row_number() over (partition by case_key, year order by period desc) = 1
),
case_periods as (
    select s.kommunkod, s.reporting as period, s.kon, s.aldersgrupp, s.utrikes_fodd, s.hemmavarande_barn,
           s.hederskontext, s.mycket_grovt_vald, s.riskbedomning, s.aktualisering_vag, s.maluppfyllelse,
           s.vald_efter, s.brukar_situation, s.brukar_betydelse,
           coalesce(s.opened between p.p_start and p.p_end, false) as opened_in_period,
           coalesce(s.closed between p.p_start and p.p_end, false) as closed_in_period,
           s.insatser is not null as has_insats, s.boende as has_boende_insats
    from states s join submitted p on s.kommunkod = p.kommunkod and s.reporting = p.period
    where (s.closed is null or s.closed >= p.p_start) and s.opened <= p.p_end
),
by_group as (
    select kommunkod, period, case kon when '1' then 'K' when '2' then 'M' else 'X' end as g, {", ".join(sums)}
    from case_periods group by all
),
kommuner as (select kommunkod, '00' || lanskod as lan_id from read_csv('{kommuner}', header = true,
                                                                            all_varchar = true)),
regions as (
    select s.kommunkod, s.period, s.year, s.kommunkod as municipality from submitted s
    union all
    select s.kommunkod, s.period, s.year, k.lan_id from submitted s join kommuner k using (kommunkod)
    union all
    select s.kommunkod, s.period, s.year, '0000' from submitted s
),
genders as (select * from (values ('T', 'K'), ('T', 'M'), ('T', 'X'), ('K', 'K'), ('M', 'M')) v (gender, g)),
population as (
    select kommunkod, year, gender, population from read_csv('{paths.population_csv}', header = true,
        columns = {{'kommunkod': 'VARCHAR', 'year': 'INTEGER', 'gender': 'VARCHAR', 'population': 'BIGINT'}})
),
region_population as (
    select r.municipality, r.period, g.gender,
           case when count(p.population) = count(*) then sum(p.population) end as pop
    from regions r cross join (values ('T'), ('K'), ('M')) g (gender)
    left join population p on r.kommunkod = p.kommunkod and r.year = p.year and g.gender = p.gender
    group by all
),
counts as (
    select r.municipality, r.period, genders.gender,
           {", ".join(f"coalesce(sum(b.n_{k.id}), 0) as n_{k.id}" + (
               f", coalesce(sum(b.d_{k.id}), 0) as d_{k.id}" if k.unit is Unit.PERCENT else "") for k in KPIS)}
    from regions r cross join genders
    left join by_group b on r.kommunkod = b.kommunkod and r.period = b.period and genders.g = b.g
    group by all
),
totals as (
    select c.*, rp.pop from counts c
    left join region_population rp using (municipality, period, gender)
)
{" union all ".join(figures)}
"""


def run_floor(paths: Paths) -> tuple[pd.DataFrame, float]:
    """(key figures, CPU seconds of this process while DuckDB ran the script)."""
    con = duckdb.connect()
    sql = floor_sql(paths)
    started = time.process_time()
    figures = con.execute(sql).df()
    cpu = time.process_time() - started
    con.close()
    return figures, cpu


KEY = ["kpi", "municipality", "period", "gender"]


def compare_with_mart(floor: pd.DataFrame, mart: pd.DataFrame) -> dict[str, int]:
    """How many cells agree (numerator, denominator and value) between the floor and the dbt mart."""
    both = floor.merge(mart, on=KEY, how="outer", suffixes=("_floor", "_mart"), indicator=True)
    same = both["_merge"] == "both"
    for column in ("numerator", "denominator", "value"):
        a, b = both[f"{column}_floor"], both[f"{column}_mart"]
        same &= (a == b) | (a.isna() & b.isna())
    return {"cells_floor": len(floor), "cells_mart": len(mart), "cells_equal": int(same.sum())}
