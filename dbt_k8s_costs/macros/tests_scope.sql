{#- What the data tests of the daily marts read: the days this run wrote. A daily run
    rebuilds a few days of k8s_costs_daily and k8s_expenses_daily (a partition each); their
    data tests read the days from the earliest partition written since the run started,
    through the sorting key, instead of the whole history. "Since the run started" is
    measured on the server's clock (now() minus the run's age, plus 10 seconds), so a clock
    difference between dbt's host and the server does not matter. A full build writes
    every partition and tests every day; so does a run that wrote none (`min` of nothing
    is 1970-01-01), e.g. a `dbt test` on its own. -#}

{% macro default__get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- if relation.identifier in ('k8s_costs_daily', 'k8s_expenses_daily') -%}
    {%- set now = modules.datetime.datetime.now(modules.pytz.utc) -%}
    {%- set age = (now - run_started_at).total_seconds() | int + 10 -%}
    {%- set written -%}
      date >= (
          select min(min_date) from system.parts
          where active and database = '{{ relation.schema }}'
              and table = '{{ relation.identifier }}'
              and modification_time >= now() - toIntervalSecond({{ age }})
      )
    {%- endset -%}
    {%- set where = '(' ~ where ~ ') and ' ~ written if where else written -%}
  {%- endif -%}
  {%- if where -%}
    {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
  {%- endif -%}
  {%- do return(relation) -%}
{%- endmacro %}
