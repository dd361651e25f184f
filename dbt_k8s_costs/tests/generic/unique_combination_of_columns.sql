{#- Rows whose combination of columns is not unique (dbt_utils cannot be installed here). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count() as duplicates
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count() > 1

{% endtest %}
