{#- Rows for which `expression` is false (dbt_utils.expression_is_true). -#}
{% test expression_is_true(model, expression, where=none) %}

select *
from {{ model }}
where not ({{ expression }})
{%- if where %} and ({{ where }}){% endif %}

{% endtest %}
