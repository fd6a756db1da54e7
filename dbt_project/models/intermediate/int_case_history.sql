-- One row per case across all loaded quarters (up to the release period): when it was first and last
-- reported, and its latest state. A later quarter's row is the truth (cases are corrected over time).
with cases as (
    select * from {{ ref('stg_cases') }}
    where period <= {{ release_period() }}
),

spans as (
    select
        case_key,
        min(period) as first_period,
        max(period) as last_period,
        count(*) as n_quarters
    from cases
    group by case_key
),

latest as (
    select *
    from cases
    qualify row_number() over (partition by case_key order by period desc) = 1
)

select
    latest.case_key,
    latest.kommunkod,
    latest.arende_id,
    spans.first_period,
    spans.last_period,
    spans.n_quarters,
    latest.aktualiseringsdatum as opened_date,
    latest.avslutsdatum as closed_date,
    latest.avslutsdatum is not null as is_closed,
    latest.* exclude (case_key, kommunkod, arende_id, period, year, aktualiseringsdatum, avslutsdatum)
from latest
inner join spans on latest.case_key = spans.case_key
