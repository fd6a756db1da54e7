-- T counts every case (kvinna, man, annat, okänt), so its numerator is at least K + M.
with pivoted as (
    select
        kpi,
        municipality,
        period,
        sum(numerator) filter (where gender = 'T') as n_total,
        sum(numerator) filter (where gender = 'K') as n_women,
        sum(numerator) filter (where gender = 'M') as n_men
    from {{ ref('mart_key_figures') }}
    group by kpi, municipality, period
)

select *
from pivoted
where n_men is not null and n_total < n_women + n_men
