-- A share's numerator is a subset of its denominator: never larger.
select kpi, municipality, period, gender, numerator, denominator
from {{ ref('mart_key_figures') }}
where kpi in ({{ kpi_ids('percent') }})
  and (denominator is null or numerator > denominator)
