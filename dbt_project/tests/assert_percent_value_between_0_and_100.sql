-- A share is NULL (empty denominator) or between 0 and 100 %.
select kpi, municipality, period, gender, value
from {{ ref('mart_key_figures') }}
where kpi in ({{ kpi_ids('percent') }})
  and (value < 0 or value > 100 or (value is null and denominator > 0))
