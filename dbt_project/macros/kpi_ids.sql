{#- Quoted, comma-separated ids of the catalogue's KPIs, optionally only one unit: for IN (...) lists in tests. -#}
{% macro kpi_ids(unit=none) %}
    {%- set ids = [] -%}
    {%- for kpi in kpi_catalogue() if unit is none or kpi.unit == unit -%}
        {%- do ids.append("'" ~ kpi.id ~ "'") -%}
    {%- endfor -%}
    {{ ids | join(', ') }}
{%- endmacro %}
