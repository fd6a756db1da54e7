-- Materialised (incrementally, by calendar year: macros/year_builds.sql): reading thousands of Parquet
-- footers once, not once per test and downstream model, and on a load only the rebuilt years' quarters.
{{ config(materialized='incremental', pre_hook="{{ delete_built_years() }}") }}

-- One row per accepted file, i.e. per submitted municipality x quarter, with its number of cases.
-- Read from the file list (not from the case rows) so a submission with zero cases still counts as
-- submitted and gets published zeros. The _schema folder does not match the pattern and drops out.
-- The file list is not a separate dbt source because Dagster maps a source to one asset and both
-- would be the asset accepted_cases; the depends_on line wires this model after it instead.
-- depends_on: {{ source('accepted', 'cases') }}
with files as (
{%- if reads_quarter_caches() %}
    -- the quarter caches' file lists: the same rows, one per staged file (macros/year_builds.sql)
    select period, kommunkod, n_cases
    from read_parquet({{ quarter_cache_files('.files') }})
{%- else %}
    select
        regexp_extract(file_name, '({{ quarter_pattern() }})[/\\]([0-9]{4})\.parquet$', 1) as period,
        regexp_extract(file_name, '({{ quarter_pattern() }})[/\\]([0-9]{4})\.parquet$', 2) as kommunkod,
        num_rows as n_cases
    from parquet_file_metadata({{ accepted_files() }})
{%- endif %}
)

select
    kommunkod,
    period,
    cast(left(period, 4) as integer) as year,
    n_cases
from files
where period <> ''
