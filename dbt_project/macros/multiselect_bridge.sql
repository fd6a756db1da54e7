{#- A multi-select column ('FYS|PSY', upper-case, sorted by staging) as a bridge table: one row per
    case, quarter and code. NULL = nothing selected = no rows. -#}
{% macro multiselect_bridge(column, code_name) %}
select
    kommunkod,
    period,
    arende_id,
    unnest(string_split({{ column }}, '|')) as {{ code_name }}
from {{ ref('stg_cases') }}
where {{ column }} is not null
{% endmacro %}
