{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='date',
        on_schema_change='fail',
        engine='MergeTree()',
        order_by='(date, cluster, allocation_name)',
        partition_by='toYYYYMM(date)',
    )
}}

{#- Re-read days replace the whole day (delete+insert on `date`), so a restated day's
    numbers overwrite the old ones and allocations that vanished on restatement go too. -#}

with

allocations as (

    select * from {{ ref('stg_kubecost__allocations') }}
    where granularity = '{{ var("kubecost_granularity") }}'
        and idle_policy = '{{ var("kubecost_idle_policy") }}'

),

extractions as (

    select * from {{ ref('stg_kubecost__allocation_extractions') }}
    where granularity = '{{ var("kubecost_granularity") }}'
        and idle_policy = '{{ var("kubecost_idle_policy") }}'

),

selected_days as (

    select * from allocations
    {% if is_incremental() -%}
    where date in {{ days_to_rebuild('extractions') }}
    {%- endif %}

)

select
    * except (granularity, idle_policy, aggregate, query_settings),
    if(empty(services), '', services[1]) as service,
    granularity,
    idle_policy,
    query_settings
from selected_days
