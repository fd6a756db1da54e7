-- Every submitted municipality x period has every KPI x gender (zeros included), and its län and Riket too.
{{ config(meta={"dagster": {"ref": {"name": "mart_key_figures"}}}) }}
{%- set expected_per_period = [] %}
{%- for kpi in kpi_catalogue() %}{% do expected_per_period.append(3 if kpi.divided_by_gender else 1) %}{% endfor %}
with expected as (
    select distinct s.kommunkod as municipality, s.period from {{ ref('int_submission_periods') }} as s
    union
    select distinct k.lan_id, s.period
    from {{ ref('int_submission_periods') }} as s
    inner join {{ ref('stg_kommuner') }} as k on s.kommunkod = k.kommunkod
    union
    select distinct {{ riket_id() }}, s.period from {{ ref('int_submission_periods') }} as s
),

published as (
    select municipality, period, count(*) as n_rows
    from {{ ref('mart_key_figures') }}
    group by municipality, period
)

select expected.municipality, expected.period, published.n_rows
from expected
full outer join published
    on expected.municipality = published.municipality and expected.period = published.period
where published.n_rows is distinct from {{ expected_per_period | sum }}
   or expected.municipality is null
