{#- One row per reading (extraction) of a day of allocations, per granularity and idle
    policy: what landed of it, whether it landed whole, and how stg_kubecost__allocations
    reads the day. A table, rebuilt on every run with one pass over the landing table's
    key columns: every reader of the day's rows filters by it. -#}
{{
    config(
        materialized='table',
        engine='MergeTree()',
        order_by='(window_start, granularity, idle_policy, extraction_id)',
    )
}}

with

source as (

    select * from {{ source('kubecost', 'allocations') }}

),

extractions as (

    {{ summarize_extractions(
        'source', ['window_start', 'granularity', 'idle_policy'], 'name'
    ) | indent(4) }}

)

select * from extractions
