{#- Lifetime facts per cluster, node, namespace and pod from the finest-grain rows:
    running interval, usage and requests for efficiency, and the latest metadata. -#}

with

allocated as (

    select * from {{ ref('k8s_costs_daily') }}
    where not is_idle

),

exploded as (

    select
        cluster,
        levels_row.1 as level,
        levels_row.2 as resource_key,
        levels_row.3 as resource_name,
        levels_row.4 as resource_labels,
        controller_kind,
        controller,
        running_start,
        running_end,
        running_minutes,
        cpu_core_usage_average,
        cpu_core_request_average,
        ram_byte_usage_average,
        ram_byte_request_average,
        cpu_cost,
        ram_cost
    from allocated
    array join [
        ('cluster', cluster, cluster, map()),
        ('node', node, node, map()),
        ('namespace', namespace, namespace, namespace_labels),
        ('pod', concat(namespace, '/', pod), pod, labels)
    ] as levels_row

),

aggregated as (

    select
        cluster,
        level,
        resource_key,
        any(resource_name) as resource_name,
        min(running_start) as first_seen_at,
        max(running_end) as last_seen_at,
        argMax(resource_labels, running_end) as labels,
        argMax(controller_kind, running_end) as controller_kind,
        argMax(controller, running_end) as controller,
        sum(cpu_core_usage_average * running_minutes) as cpu_usage_core_minutes,
        sum(cpu_core_request_average * running_minutes) as cpu_request_core_minutes,
        sum(ram_byte_usage_average * running_minutes) as ram_usage_byte_minutes,
        sum(ram_byte_request_average * running_minutes) as ram_request_byte_minutes,
        {{ ratio('cpu_usage_core_minutes', 'cpu_request_core_minutes') }} as cpu_efficiency,
        {{ ratio('ram_usage_byte_minutes', 'ram_request_byte_minutes') }} as ram_efficiency,
        sum(cpu_cost) as efficiency_cpu_cost,
        sum(ram_cost) as efficiency_ram_cost,
        {{ ratio(
            'ifNull(cpu_efficiency, 0) * efficiency_cpu_cost'
            ~ ' + ifNull(ram_efficiency, 0) * efficiency_ram_cost',
            'efficiency_cpu_cost + efficiency_ram_cost'
        ) }} as total_efficiency
    from exploded
    group by cluster, level, resource_key

)

select * from aggregated
