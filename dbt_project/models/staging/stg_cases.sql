-- Materialised as a table: reading thousands of Parquet files once, not once per test and downstream model.
{{ config(materialized='table') }}

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
from {{ source('accepted', 'cases') }}
