-- The agreed key figures (KEY_FIGURES.md): every KPI of the catalogue for every submitted municipality,
-- its län ('00' + lanskod) and Riket ('0000'), per quarter and calendar year, by gender T/K/M.
-- The KPI definitions come from kpi_catalogue() (rendered from pipeline/contract/kpis.py); this model
-- only knows the three units. Län and Riket aggregate submitted municipalities only, cases and
-- population alike, so a rate never mixes a partial case count with a full population.
-- Incremental by calendar year (macros/year_builds.sql): a load rebuilds only the years it touched.
{{ config(materialized='incremental', pre_hook="{{ delete_built_years() }}") }}
{%- set kpis = kpi_catalogue() %}
{%- set with_condition_denominator = [] %}
{%- for kpi in kpis if kpi.unit == 'percent' %}{% do with_condition_denominator.append(kpi.id) %}{% endfor %}

with case_periods as (
    select * from {{ ref('int_case_periods') }} where {{ in_built_years() }}
),

submissions as (
    select * from {{ ref('int_submission_periods') }} where {{ in_built_years() }}
),

-- Counts per municipality, period and gender group: K (kon 1), M (kon 2), X (annat/okänt, only in T).
by_group as (
    select
        kommunkod,
        period,
        {{ gender_group('kon') }} as gender_group,
        {%- for kpi in kpis %}
        count_if({{ kpi.numerator }}) as n_{{ kpi.id }},
        {%- if kpi.id in with_condition_denominator %}
        count_if({{ kpi.denominator }}) as d_{{ kpi.id }},
        {%- endif %}
        {%- endfor %}
        count(*) as n_cases
    from case_periods
    group by all
),

-- Each submitted municipality x period counts towards itself, its län and Riket.
regions as (
    select s.kommunkod, s.period, s.period_type, s.year, s.kommunkod as municipality, 'K' as municipality_type
    from submissions as s
    union all
    select s.kommunkod, s.period, s.period_type, s.year, k.lan_id as municipality, 'L' as municipality_type
    from submissions as s
    inner join {{ ref('stg_kommuner') }} as k on s.kommunkod = k.kommunkod
    union all
    select s.kommunkod, s.period, s.period_type, s.year, {{ riket_id() }} as municipality, 'L' as municipality_type
    from submissions as s
),

-- Which gender groups make up each published gender.
genders as (
    select * from (values ('T', 'K'), ('T', 'M'), ('T', 'X'), ('K', 'K'), ('M', 'M')) as g (gender, gender_group)
),

totals as (
    select
        {%- for kpi in kpis %}
        coalesce(sum(by_group.n_{{ kpi.id }}), 0) as n_{{ kpi.id }},
        {%- if kpi.id in with_condition_denominator %}
        coalesce(sum(by_group.d_{{ kpi.id }}), 0) as d_{{ kpi.id }},
        {%- endif %}
        {%- endfor %}
        regions.municipality,
        regions.municipality_type,
        regions.period,
        regions.period_type,
        genders.gender
    from regions
    cross join genders
    left join by_group
        on regions.kommunkod = by_group.kommunkod
        and regions.period = by_group.period
        and genders.gender_group = by_group.gender_group
    group by all
),

-- Population 18+ of the submitted municipalities of each region; NULL when any of them is missing.
region_population as (
    select
        regions.municipality,
        regions.period,
        g.gender,
        case when count(pop.population) = count(*) then sum(pop.population) end as population
    from regions
    cross join (values ('T'), ('K'), ('M')) as g (gender)
    left join {{ ref('stg_population') }} as pop
        on regions.kommunkod = pop.kommunkod
        and regions.year = pop.year
        and g.gender = pop.gender
    group by all
),

figures as (
    {%- for kpi in kpis %}
    select
        '{{ kpi.id }}' as kpi,
        totals.municipality,
        totals.municipality_type,
        totals.period,
        totals.period_type,
        totals.gender,
        cast(totals.n_{{ kpi.id }} as bigint) as numerator,
        {%- if kpi.unit == 'count' %}
        cast(null as bigint) as denominator,
        cast(totals.n_{{ kpi.id }} as double) as value
        {%- elif kpi.unit == 'rate' %}
        cast(region_population.population as bigint) as denominator,
        case when region_population.population > 0
            then round(10000.0 * totals.n_{{ kpi.id }} / region_population.population, 1) end as value
        {%- elif kpi.unit == 'percent' %}
        cast(totals.d_{{ kpi.id }} as bigint) as denominator,
        case when totals.d_{{ kpi.id }} > 0
            then round(100.0 * totals.n_{{ kpi.id }} / totals.d_{{ kpi.id }}, 1) end as value
        {%- else %}
        {{ exceptions.raise_compiler_error("Okänd enhet i KPI-katalogen: " ~ kpi.unit) }}
        {%- endif %}
    from totals
    {%- if kpi.unit == 'rate' %}
    left join region_population
        on totals.municipality = region_population.municipality
        and totals.period = region_population.period
        and totals.gender = region_population.gender
    {%- endif %}
    {%- if not kpi.divided_by_gender %}
    where totals.gender = 'T'
    {%- endif %}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select
    kpi,
    municipality,
    municipality_type,
    period,
    period_type,
    gender,
    numerator,
    denominator,
    cast(value as double) as value
from figures
order by kpi, municipality, period, gender
