{#- Rows for which `flag` is true, and a log line naming them (dbt's own message only
    counts them): up to 20 distinct values of the `describe` expression, e.g. the days and
    clusters a check could not run on. Meant for warnings a reader must be able to act on. -#}
{% test no_flagged_rows(model, flag, describe, message) %}

{%- if execute %}
    {%- set found = run_query(
        'select distinct toString(' ~ describe ~ ') as described from ' ~ model
        ~ ' where ' ~ flag ~ ' order by described limit 21'
    ) %}
    {%- set described = found.rows | map(attribute=0) | list %}
    {%- if described %}
        {{- log(
            model.identifier ~ ': ' ~ message ~ ': ' ~ (described[:20] | join('; '))
            ~ ('; ...' if described | length > 20 else ''),
            info=True
        ) }}
    {%- endif %}
{%- endif %}

select * from {{ model }} where {{ flag }}

{% endtest %}
