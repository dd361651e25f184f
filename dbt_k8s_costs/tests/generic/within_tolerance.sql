{#- Rows where `column_name` differs from zero by more than the `reconciliation_tolerance`
    var: the reconciliation differences of k8s_reconciliation_daily. -#}
{% test within_tolerance(model, column_name, tolerance=none) %}

{%- set tolerance = tolerance if tolerance is not none
    else var('reconciliation_tolerance') %}

select *, {{ column_name }} as difference, {{ tolerance }} as tolerance
from {{ model }}
where abs({{ column_name }}) > {{ tolerance }}

{% endtest %}
