{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='date',
        on_schema_change='fail',
        engine='MergeTree()',
        order_by='(date, cluster, level, resource_key)',
        partition_by='toYYYYMM(date)',
    )
}}

-- depends_on: {{ ref('int_allocation_days_chosen') }}, {{ ref('stg_kubecost__clusters') }}

with

exploded as (

    select * from {{ ref('int_allocations_exploded_to_levels') }}
    {% if is_incremental() -%}
    where date in {{ days_to_rebuild() }}
    {%- endif %}

),

aggregated as (

    select
        date,
        cluster,
        level,
        resource_key,
        any(exploded.k8s_namespace) as k8s_namespace,
        -- a pod that moved during the day is shown on the node it cost most on
        argMax(exploded.k8s_node, exploded.total_cost) as k8s_node,
        any(exploded.k8s_service) as k8s_service,
        sumIf(exploded.cpu_cost, not exploded.is_idle) as cpu_cost,
        sumIf(exploded.gpu_cost, not exploded.is_idle) as gpu_cost,
        sumIf(exploded.ram_cost, not exploded.is_idle) as ram_cost,
        sumIf(exploded.pv_cost, not exploded.is_idle) as pv_cost,
        sumIf(exploded.network_cost, not exploded.is_idle) as network_cost,
        sumIf(exploded.load_balancer_cost, not exploded.is_idle) as load_balancer_cost,
        sumIf(exploded.shared_cost, not exploded.is_idle) as shared_cost,
        sumIf(exploded.external_cost, not exploded.is_idle) as external_cost,
        sumIf(exploded.adjustment_cost, not exploded.is_idle) as adjustment_cost,
        sumIf(exploded.total_cost, not exploded.is_idle) as total_cost,
        sumIf(exploded.cpu_cost, exploded.is_idle) as idle_cpu_cost,
        sumIf(exploded.gpu_cost, exploded.is_idle) as idle_gpu_cost,
        sumIf(exploded.ram_cost, exploded.is_idle) as idle_ram_cost,
        sumIf(exploded.total_cost, exploded.is_idle) as idle_cost,
        total_cost + idle_cost as total_cost_with_idle,
        any(exploded.currency) as currency,
        any(exploded.reading) as reading,
        any(exploded.extraction_id) as extraction_id,
        max(exploded.extracted_at) as extracted_at
    from exploded
    group by date, cluster, level, resource_key

)

select * from aggregated
