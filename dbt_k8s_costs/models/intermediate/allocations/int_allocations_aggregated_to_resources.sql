{#- Lifetime facts per cluster, node, namespace and pod from the finest-grain rows:
    running interval, usage and requests for efficiency, and the latest metadata.
    Aggregated once to (cluster, node, namespace, pod), then rolled up: the rollup reads a
    few rows per pod instead of every container-day four times. -#}

with

allocated as (

    select * from {{ ref('int_allocations_filtered_to_marts_grain') }}
    where not is_idle

),

per_pod_on_node as (

    select
        cluster,
        node,
        namespace,
        pod,
        min(running_start) as first_seen_at,
        max(running_end) as last_seen_at,
        argMax(labels, running_end) as pod_labels,
        argMax(namespace_labels, running_end) as latest_namespace_labels,
        argMax(controller_kind, running_end) as latest_controller_kind,
        argMax(controller, running_end) as latest_controller,
        sum(cpu_core_usage_average * running_minutes) as cpu_usage_core_minutes,
        sum(cpu_core_request_average * running_minutes) as cpu_request_core_minutes,
        sum(ram_byte_usage_average * running_minutes) as ram_usage_byte_minutes,
        sum(ram_byte_request_average * running_minutes) as ram_request_byte_minutes,
        sum(cpu_cost) as efficiency_cpu_cost,
        sum(ram_cost) as efficiency_ram_cost
    from allocated
    group by cluster, node, namespace, pod

),

exploded as (

    select
        levels_row.1 as level,
        levels_row.2 as resource_key,
        levels_row.3 as resource_name,
        levels_row.4 as resource_labels,
        per_pod_on_node.*
    from per_pod_on_node
    array join [
        ('cluster', cluster, cluster, map()),
        ('node', if(node = '', '__unallocated__', node), node, map()),
        ('namespace', namespace, namespace, latest_namespace_labels),
        ('pod', concat(namespace, '/', pod), pod, pod_labels)
    ] as levels_row

),

aggregated as (

    select
        cluster,
        level,
        resource_key,
        any(resource_name) as resource_name,
        min(exploded.first_seen_at) as first_seen_at,
        max(exploded.last_seen_at) as last_seen_at,
        argMax(resource_labels, exploded.last_seen_at) as labels,
        argMax(latest_controller_kind, exploded.last_seen_at) as controller_kind,
        argMax(latest_controller, exploded.last_seen_at) as controller,
        {{ ratio('sum(cpu_usage_core_minutes)', 'sum(cpu_request_core_minutes)') }}
            as cpu_efficiency,
        {{ ratio('sum(ram_usage_byte_minutes)', 'sum(ram_request_byte_minutes)') }}
            as ram_efficiency,
        {{ ratio(
            'ifNull(cpu_efficiency, 0) * sum(efficiency_cpu_cost)'
            ~ ' + ifNull(ram_efficiency, 0) * sum(efficiency_ram_cost)',
            'sum(efficiency_cpu_cost) + sum(efficiency_ram_cost)'
        ) }} as total_efficiency
    from exploded
    group by cluster, level, resource_key

)

select * from aggregated
