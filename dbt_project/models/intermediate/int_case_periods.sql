-- One row per case per reporting period (quarter and calendar year) with the case's LATEST state in
-- that period and the flags the KPI catalogue's conditions use. A case belongs to a year when it
-- appears in any loaded quarter of that year; its state is taken from the latest such quarter.
-- Column names here are the vocabulary of pipeline/contract/kpis.py: rename nothing without it.
-- Incremental by calendar year (macros/year_builds.sql): a load rebuilds only the years it touched.
{{ config(materialized='incremental', pre_hook="{{ delete_built_years() }}") }}
with cases as (
    select * from {{ ref('stg_cases') }}
    where period <= {{ release_period() }} and {{ in_built_years() }}
),

states as (
    select *, period as state_period, period as reporting_period, 'quarter' as period_type
    from cases

    union all by name

    select *, period as state_period, cast(year as varchar) as reporting_period, 'year' as period_type
    from cases
    qualify row_number() over (partition by case_key, year order by period desc) = 1
),

-- Boende insatser: skyddat boende, tillfälligt boende, stöd till ny bostad (KEY_FIGURES.md, SUKF10).
boende as (
    select distinct kommunkod, period, arende_id
    from {{ ref('stg_case_insatser') }}
    where insats in {{ boende_insatser() }} and {{ in_built_years() }}
)

select
    states.case_key,
    states.kommunkod,
    states.arende_id,
    states.reporting_period as period,
    states.period_type,
    states.year,
    states.state_period,
    coalesce(states.aktualiseringsdatum between periods.period_start and periods.period_end, false)
        as opened_in_period,
    coalesce(states.avslutsdatum between periods.period_start and periods.period_end, false)
        as closed_in_period,
    states.insatser is not null as has_insats,
    boende.arende_id is not null as has_boende_insats,
    states.aktualiseringsdatum,
    states.avslutsdatum,
    states.kon,
    states.aldersgrupp,
    states.utrikes_fodd,
    states.hemmavarande_barn,
    states.hederskontext,
    states.mycket_grovt_vald,
    states.riskbedomning,
    states.aktualisering_vag,
    states.maluppfyllelse,
    states.vald_efter,
    states.brukar_situation,
    states.brukar_betydelse
from states
inner join {{ ref('int_submission_periods') }} as periods
    on states.kommunkod = periods.kommunkod and states.reporting_period = periods.period
    and {{ in_built_years('periods.period') }}
left join boende
    on states.kommunkod = boende.kommunkod
    and states.state_period = boende.period
    and states.arende_id = boende.arende_id
-- A submission should hold only cases open during its quarter; a row closed before the period or
-- opened after it (no rule rejects the former without history) must not count in the period.
where (states.avslutsdatum is null or states.avslutsdatum >= periods.period_start)
    and states.aktualiseringsdatum <= periods.period_end
