-- Multi-select insatser as one row per case, quarter and code. NULL insatser = no insats yet = no rows.
select
    kommunkod,
    period,
    arende_id,
    unnest(string_split(insatser, '|')) as insats
from {{ ref('stg_cases') }}
where insatser is not null
