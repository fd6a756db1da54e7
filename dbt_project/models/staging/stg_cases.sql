-- Materialised (incrementally, by calendar year: macros/year_builds.sql): reading thousands of Parquet
-- files once, not once per test and downstream model, and on a load only the rebuilt years' quarters.
{{ config(materialized='incremental', pre_hook="{{ delete_built_years() }}") }}

-- Accepted cases, one row per case (kommunkod + arende_id) per quarter, typed.
-- Columns arrive as VARCHAR exactly as the data dictionary names them; only the dates change type.
-- The zero-row accepted/_schema/empty.parquet contributes no rows, so it needs no filter.
select
    * replace (
        cast(aktualiseringsdatum as date) as aktualiseringsdatum,
        cast(avslutsdatum as date) as avslutsdatum
    ),
    kommunkod || ':' || arende_id as case_key,
    cast(left(period, 4) as integer) as year
-- depends_on: {{ source('accepted', 'cases') }}
{% if reads_quarter_caches() -%}
from read_parquet({{ quarter_cache_files() }}, union_by_name=true)
{%- elif is_year_build() -%}
from read_parquet({{ accepted_files() }}, union_by_name=true)
{%- else -%}
from {{ source('accepted', 'cases') }}
{%- endif %}
