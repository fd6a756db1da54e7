{#-
  SQL expression for the last quarter to include (YYYYQn). The var release_period pins a release;
  without it the latest loaded quarter is used. Quarter strings sort correctly as text.
-#}
{% macro release_period() %}
    {%- set pinned = var('release_period', none) -%}
    {%- if pinned -%}
        {%- if not modules.re.match('^' ~ quarter_pattern() ~ '$', pinned | string) -%}
            {{ exceptions.raise_compiler_error("release_period måste ha formatet ÅÅÅÅKn, t.ex. 2025Q3 (fick '" ~ pinned ~ "')") }}
        {%- endif -%}
        '{{ pinned }}'
    {%- else -%}
        (select max(period) from {{ ref('stg_submissions') }})
    {%- endif -%}
{% endmacro %}
