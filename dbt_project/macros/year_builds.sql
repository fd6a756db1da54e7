{#-
  Incremental builds by calendar year (issue 12). Every identity behind the figures stays inside one
  calendar year, so a load rebuilds only the years whose inputs changed: the pipeline
  (pipeline/defs/transform.py, dbt_plan) sets SUKF_DBT_YEARS ("2028,2029", "" for none) and
  SUKF_DBT_QUARTERS (the staged quarters of those years).
  Why two mechanisms: the installation's paths are --vars (Paths.dbt_vars; the same on every build of an
  installation), the years are environment variables, because they change on every load and changed
  vars make dbt re-parse the whole project: measured 2026-12-01, `dbt parse` with the paths' vars
  6.8–7.5 s CPU (partial), with one var more ("build_years") 13.7 s (full: "Unable to do partial parsing
  because config vars … have changed"), and the next build with the usual vars a full parse again
  (12.4 s); with SUKF_DBT_YEARS set instead 6.8 s (partial). These variables are read only while
  running, never while parsing (is_incremental() is false then), so partial parsing is kept. Without SUKF_DBT_YEARS
  (a plain `dbt build`) every year is rebuilt; a model whose table does not exist yet is always built
  in full. Incremental models delete the rows of the years they rebuild first (pre-hook), so a year
  that lost a quarter or a kommun loses its rows too.
-#}
{% macro build_list(name) %}
    {%- set text = env_var(name, '') | trim -%}
    {{- return(text.split(',') if text else []) -}}
{% endmacro %}

{% macro is_year_build() %}
    {{- return(is_incremental() and env_var('SUKF_DBT_YEARS', 'all') != 'all') -}}
{% endmacro %}

{#- SQL condition: the row (its period column, 'YYYYQn' or 'YYYY') belongs to a year being rebuilt. -#}
{% macro in_built_years(period_column='period') %}
    {%- if is_year_build() -%}
        {%- set years = build_list('SUKF_DBT_YEARS') -%}
        {%- if years | length == 0 -%} false
        {%- else -%} left({{ period_column }}, 4) in ({% for y in years %}'{{ y }}'{{ ', ' if not loop.last }}{% endfor %})
        {%- endif -%}
    {%- else -%} true
    {%- endif -%}
{% endmacro %}

{#- Pre-hook of every incremental model: take out the rows of the years this build replaces. -#}
{% macro delete_built_years() %}
    {%- if is_incremental() -%} delete from {{ this }} where {{ in_built_years() }} {%- endif -%}
{% endmacro %}

{#- The staged Parquet files to read: all of them (the var accepted_files, a glob), or only the rebuilt
    years' quarters (and the zero-row schema file, so the list is never empty). The folder comes from the
    var accepted_root (pipeline.settings.Paths.dbt_vars, the one owner of the data-folder layout). -#}
{% macro accepted_files() %}
    {%- if is_year_build() -%}
        {%- set root = var("accepted_root") -%}
        [{% for q in build_list('SUKF_DBT_QUARTERS') %}'{{ root }}/{{ q }}/*.parquet', {% endfor %}'{{ root }}/_schema/empty.parquet']
    {%- else -%}
        '{{ var("accepted_files") }}'
    {%- endif -%}
{% endmacro %}

{#- Whether this build reads the quarter caches: the pipeline sets SUKF_DBT_CACHED=1 after making sure the
    cache of every quarter in SUKF_DBT_QUARTERS matches its staged files (pipeline.staged.accepted.quarter_cache:
    one file per quarter instead of one per municipality, ≈ 1 ms of CPU saved per staged file and read).
    Read only while executing (never while parsing), like SUKF_DBT_YEARS; a plain `dbt build` reads the
    staged files themselves. -#}
{% macro reads_quarter_caches() %}
    {{- return(execute and env_var('SUKF_DBT_CACHED', '') == '1') -}}
{% endmacro %}

{#- The quarter caches of SUKF_DBT_QUARTERS (suffix '' for the cases, '.files' for each file list), and the
    zero-row schema file for the cases so the list is never empty. -#}
{% macro quarter_cache_files(suffix='') %}
    {%- set root = var("quarter_cache_root") -%}
    {%- set quarters = build_list('SUKF_DBT_QUARTERS') -%}
    [{% for q in quarters %}'{{ root }}/{{ q }}{{ suffix }}.parquet'{{ ', ' if not loop.last }}{% endfor %}
    {%- if suffix == '' -%}{{ ', ' if quarters }}'{{ var("accepted_root") }}/_schema/empty.parquet'{%- endif -%}]
{% endmacro %}
