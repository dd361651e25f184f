{#- Rows whose combination of columns is not unique (dbt_utils cannot be installed here).
    Aggregated in the table's order when the columns start its sorting key: memory stays
    small on the largest marts (list them in sorting-key order). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count() as duplicates
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count() > 1
settings optimize_aggregation_in_order = 1

{% endtest %}
