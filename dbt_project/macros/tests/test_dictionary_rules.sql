{#-
  The data dictionary's column rules of one model in one query (issue 12): every rule of the model was a
  test node of its own (41 on stg_cases and its bridges), and each node costs dbt ≈50 ms of compiling,
  events and a query however small the data. Fails with one row per broken rule and offending value:
  column_name, rule (not_null, not_null_where, accepted_values), value (the code not in the list; NULL for
  a missing value) and n_rows. ``rules``: a list of {column, not_null: bool, not_null_where: SQL condition,
  accepted_values: [codes]}, written from pipeline/contract/dictionary.py by pipeline.contract.dbt_render.
-#}
{% test dictionary_rules(model, rules) %}
{%- for rule in rules %}
{%- set column = adapter.quote(rule['column']) %}
{%- if rule.get('not_null') %}
select '{{ rule['column'] }}' as column_name, 'not_null' as rule, cast(null as varchar) as value, count(*) as n_rows
from {{ model }} where {{ column }} is null having count(*) > 0
union all
{%- endif %}
{%- if rule.get('not_null_where') %}
select '{{ rule['column'] }}', 'not_null_where', cast(null as varchar), count(*)
from {{ model }} where {{ column }} is null and ({{ rule['not_null_where'] }}) having count(*) > 0
union all
{%- endif %}
{%- if rule.get('accepted_values') %}
select '{{ rule['column'] }}', 'accepted_values', cast({{ column }} as varchar), count(*)
from {{ model }}
where {{ column }} is not null
  and cast({{ column }} as varchar) not in ({% for v in rule['accepted_values'] %}'{{ v }}'{{ ', ' if not loop.last }}{% endfor %})
group by {{ column }}
union all
{%- endif %}
{%- endfor %}
select cast(null as varchar), cast(null as varchar), cast(null as varchar), cast(0 as bigint) where false
{% endtest %}
