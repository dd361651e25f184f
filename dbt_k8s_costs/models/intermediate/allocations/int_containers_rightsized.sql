{#- One row per container of a pod: its latest requests, its peak daily usage, the
    requests that usage recommends (peak x (1 + rightsizing_headroom)) and the monthly
    saving at the prices the container actually paid. -#}

with

containers as (

    select * from {{ ref('int_allocations_filtered_to_marts_grain') }}
    where not is_idle and not is_unmounted and pod != ''

),

per_container as (

    select
        cluster,
        concat(namespace, '/', pod) as pod_key,
        container,
        argMax(cpu_core_request_average, date) as cpu_request_cores,
        argMax(ram_byte_request_average, date) as ram_request_bytes,
        max(cpu_core_usage_average) as cpu_usage_cores,
        max(ram_byte_usage_average) as ram_usage_bytes,
        {{ ratio('sum(cpu_cost)', 'sum(cpu_core_hours)') }} as cpu_core_hour_price,
        {{ ratio('sum(ram_cost)', 'sum(ram_byte_hours)') }} as ram_byte_hour_price
    from containers
    group by cluster, pod_key, container

),

rightsized as (

    select
        *,
        cpu_usage_cores * (1 + {{ var('rightsizing_headroom') }}) as recommended_cpu_cores,
        ram_usage_bytes * (1 + {{ var('rightsizing_headroom') }}) as recommended_ram_bytes,
        (
            greatest(cpu_request_cores - recommended_cpu_cores, 0)
                * ifNull(cpu_core_hour_price, 0)
            + greatest(ram_request_bytes - recommended_ram_bytes, 0)
                * ifNull(ram_byte_hour_price, 0)
        ) * {{ var('hours_per_month') }} as monthly_saving
    from per_container

)

select * from rightsized
