{#- What the data tests of the daily marts read. A full build tests every day. A daily run
    rebuilds a few days; with the var `kubecost_test_days_from` (a date: the first day the
    run re-read, e.g. the start of the lookback) its data tests on k8s_costs_daily and
    k8s_expenses_daily read only the days from that date, through the sorting key, instead
    of the whole history. `--full-refresh` ignores the var. -#}

{% macro default__get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- set since = var('kubecost_test_days_from', '') -%}
  {%- if since and not flags.FULL_REFRESH
      and relation.identifier in ('k8s_costs_daily', 'k8s_expenses_daily') -%}
    {%- set days = "date >= toDate('" ~ since ~ "')" -%}
    {%- set where = '(' ~ where ~ ') and ' ~ days if where else days -%}
  {%- endif -%}
  {%- if where -%}
    {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
  {%- endif -%}
  {%- do return(relation) -%}
{%- endmacro %}
