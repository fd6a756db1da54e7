-- Multi-select valdsformer ('FYS|PSY', already upper-case and sorted) as one row per case, quarter and code.
select
    kommunkod,
    period,
    arende_id,
    unnest(string_split(valdsformer, '|')) as valdsform
from {{ ref('stg_cases') }}
where valdsformer is not null
