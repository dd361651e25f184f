{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        on_schema_change='fail',
        engine='MergeTree()',
        order_by='(date, cluster, allocation_name)',
        partition_by='date',
        query_settings={'min_insert_block_size_bytes': 67108864, 'max_insert_threads': 2},
    )
}}

{#- Two insert threads: every mart waits for this one, and reading the landing is only
    half its work (sorting, compressing and writing the rest). INSERT blocks of 64 MB: the
    rows are wide; with 128 MB blocks the end of this insert was the peak memory of a
    20,000-pod build (1.93 GB), with 64 MB 1.53 GB, for the same CPU. -#}

{#- A rebuilt day is replaced whole (insert_overwrite: one partition per day, replaced by
    the rebuilt one): restated numbers overwrite the old ones and allocations the new
    reading no longer has are gone. -#}

-- depends_on: {{ ref('int_allocation_days_chosen') }}, {{ ref('stg_kubecost__clusters') }}

with

allocations as (

    select * from {{ ref('int_allocations_filtered_to_marts_grain') }}
    {% if is_incremental() -%}
    where date in {{ days_to_rebuild() }}
    {%- endif %}

)

select * from allocations
