-- A rate has a value exactly when its population is known (never a guessed population).
select kpi, municipality, period, gender, denominator, value
from {{ ref('mart_key_figures') }}
where kpi in ({{ kpi_ids('rate') }})
  and ((denominator is null) <> (value is null))
