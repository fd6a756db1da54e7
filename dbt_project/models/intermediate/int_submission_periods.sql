-- Submitted municipality x reporting period, up to the release period: every quarter with an accepted
-- file, and every calendar year in which at least one such quarter was loaded (year-to-date while
-- the year is incomplete). This is the set of rows the mart must publish, zeros included.
-- Incremental by calendar year (macros/year_builds.sql): a load rebuilds only the years it touched.
{{ config(materialized='incremental', pre_hook="{{ delete_built_years() }}") }}
with quarters as (
    select
        kommunkod,
        period,
        year,
        make_date(year, 3 * cast(right(period, 1) as integer) - 2, 1) as period_start,
        last_day(make_date(year, 3 * cast(right(period, 1) as integer), 1)) as period_end
    from {{ ref('stg_submissions') }}
    where period <= {{ release_period() }} and {{ in_built_years() }}
),

-- A year runs from 1 January to the end of its latest loaded quarter (year-to-date), so a closing
-- date after the release quarter (reported as a warning) is not counted as closed in the year.
years as (
    select
        kommunkod,
        cast(year as varchar) as period,
        year,
        make_date(year, 1, 1) as period_start,
        max(period_end) as period_end
    from quarters
    group by kommunkod, year
)

select kommunkod, period, 'quarter' as period_type, year, period_start, period_end from quarters
union all
select kommunkod, period, 'year' as period_type, year, period_start, period_end from years
