{#- Rows where `column_name` differs from zero by more than the `reconciliation_tolerance`
    var, or is null (a difference that could not be computed fails instead of passing
    silently: restrict the test with `where` to the rows the check applies to). -#}
{% test within_tolerance(model, column_name, tolerance=none) %}

{%- set tolerance = tolerance if tolerance is not none
    else var('reconciliation_tolerance') %}

select *, {{ column_name }} as difference, {{ tolerance }} as tolerance
from {{ model }}
where {{ column_name }} is null or abs({{ column_name }}) > {{ tolerance }}

{% endtest %}
