{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='date',
        on_schema_change='fail',
        engine='MergeTree()',
        order_by='(date, cluster, allocation_name)',
        partition_by='toYYYYMM(date)',
        query_settings={'min_insert_block_size_bytes': 134217728},
    )
}}

{#- INSERT blocks of 128 MB (not 256 MB): the rows are wide, this halves the peak memory
    of a full build. -#}

{#- A rebuilt day is replaced whole (delete+insert on `date`): restated numbers overwrite
    the old ones and allocations the new reading no longer has are gone. -#}

-- depends_on: {{ ref('int_allocation_days_chosen') }}, {{ ref('stg_kubecost__clusters') }}

with

allocations as (

    select * from {{ ref('int_allocations_filtered_to_marts_grain') }}
    {% if is_incremental() -%}
    where date in {{ days_to_rebuild() }}
    {%- endif %}

)

select * from allocations
