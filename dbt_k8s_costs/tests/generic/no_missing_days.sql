{#- One row per missing day between the first and the last `date_column` of each group:
    a sync that skipped a day shows up here instead of as a silent hole in the costs. -#}
{% test no_missing_days(model, column_name, group_by) %}

with

present as (

    select {{ group_by }} as grp, groupUniqArray({{ column_name }}) as days,
        min({{ column_name }}) as first_day, max({{ column_name }}) as last_day
    from {{ model }}
    group by grp

)

select grp as {{ group_by }}, missing_day
from present
array join
    arrayMap(i -> addDays(first_day, i), range(toUInt32(dateDiff('day', first_day, last_day) + 1)))
    as missing_day
where not has(days, missing_day)

{% endtest %}
