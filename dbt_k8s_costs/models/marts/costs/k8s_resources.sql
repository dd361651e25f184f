{{
    config(
        engine='MergeTree()',
        order_by='(cluster, level, resource_key)',
    )
}}

with

expenses as (

    select * from {{ ref('k8s_expenses_daily') }}
    where level in ('cluster', 'node', 'namespace', 'pod')

),

costs_per_resource as (

    select
        cluster,
        level,
        resource_key,
        {#- one currency per cluster: assert_one_currency_per_cluster refuses a history
            that mixes two before this sums it ('' is unknown, not another one) -#}
        max(currency) as currency,
        argMax(k8s_namespace, date) as k8s_namespace,
        argMax(k8s_node, date) as k8s_node,
        argMax(k8s_service, date) as k8s_service,
        min(date) as first_seen_date,
        max(date) as last_seen_date,
        sum(total_cost) as total_cost,
        sum(cpu_cost) as cpu_cost,
        sum(gpu_cost) as gpu_cost,
        sum(ram_cost) as ram_cost,
        sum(pv_cost) as pv_cost,
        sum(network_cost) as network_cost,
        sum(load_balancer_cost) as load_balancer_cost,
        sum(shared_cost) as shared_cost,
        sum(external_cost) as external_cost,
        sum(adjustment_cost) as adjustment_cost,
        sum(idle_cost) as idle_cost,
        sum(total_cost_with_idle) as total_cost_with_idle,
        {#- qualified on purpose: a bare `total_cost` is the SELECT's own alias (the sum
            above) in ClickHouse, and an aggregate of an aggregate fails -#}
        argMax(expenses.total_cost, date) as last_day_cost
    from expenses
    group by cluster, level, resource_key

),

cluster_last_dates as (

    {#- every day of a cluster has its cluster row -#}
    select
        cluster,
        max(date) as cluster_last_date
    from expenses
    where level = 'cluster'
    group by cluster

),

costs as (

    select * from {{ ref('k8s_costs_daily') }}

),

{# Lifetime facts per cluster, node, namespace and pod from the finest-grain rows:
    running interval, usage and requests for efficiency, and the latest metadata.
    Aggregated once to (cluster, node, namespace, pod), then rolled up: the rollup reads a
    few rows per pod instead of every container-day four times. #}
allocated as (

    select * from costs
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

per_pod_exploded as (

    select
        levels_row.1 as level,
        levels_row.2 as resource_key,
        levels_row.3 as resource_name,
        levels_row.4 as resource_labels,
        per_pod_on_node.*
    from per_pod_on_node
    array join [
        ('cluster', {{ level_resource_key('cluster') }}, cluster, map()),
        ('node', {{ level_resource_key('node') }}, node, map()),
        ('namespace', {{ level_resource_key('namespace') }}, namespace, latest_namespace_labels),
        ('pod', {{ level_resource_key('pod') }}, pod, pod_labels)
    ] as levels_row

),

resources as (

    {#- qualified names where an aggregate's alias is also a column of the input
        (`min(first_seen_at) as first_seen_at`): ClickHouse would read the alias -#}
    select
        cluster,
        level,
        resource_key,
        any(resource_name) as resource_name,
        min(per_pod_exploded.first_seen_at) as first_seen_at,
        max(per_pod_exploded.last_seen_at) as last_seen_at,
        argMax(resource_labels, per_pod_exploded.last_seen_at) as labels,
        argMax(latest_controller_kind, per_pod_exploded.last_seen_at) as controller_kind,
        argMax(latest_controller, per_pod_exploded.last_seen_at) as controller,
        {{ ratio('sum(cpu_usage_core_minutes)', 'sum(cpu_request_core_minutes)') }}
            as cpu_efficiency,
        {{ ratio('sum(ram_usage_byte_minutes)', 'sum(ram_request_byte_minutes)') }}
            as ram_efficiency,
        {{ ratio(
            'ifNull(cpu_efficiency, 0) * sum(efficiency_cpu_cost)'
            ~ ' + ifNull(ram_efficiency, 0) * sum(efficiency_ram_cost)',
            'sum(efficiency_cpu_cost) + sum(efficiency_ram_cost)'
        ) }} as total_efficiency
    from per_pod_exploded
    group by cluster, level, resource_key

),

{# One row per container of a pod: its latest requests, its peak daily usage, the
    requests that usage recommends (peak x (1 + rightsizing_headroom)) and the monthly
    saving at the prices the container actually paid. #}
running_containers as (

    select * from costs
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
    from running_containers
    group by cluster, pod_key, container

),

containers as (

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

),

pods_rightsized as (

    select
        cluster,
        'pod' as level,
        pod_key,
        toJSONString(groupArray(CAST(
            (
                containers.container, containers.cpu_request_cores,
                containers.ram_request_bytes, containers.cpu_usage_cores,
                containers.ram_usage_bytes
            ),
            'Tuple(name String, cpu_request_cores Float64, ram_request_bytes Float64, '
            || 'cpu_usage_cores Float64, ram_usage_bytes Float64)'
        ))) as containers,
        sum(cpu_request_cores) as cpu_request_cores,
        sum(ram_request_bytes) as ram_request_bytes,
        sum(recommended_cpu_cores) as recommended_cpu_cores,
        sum(recommended_ram_bytes) as recommended_ram_bytes,
        sum(monthly_saving) as monthly_saving
    from containers
    group by cluster, pod_key

),

last_day_pods as (

    {#- the pods on their cluster's latest day, with their namespace and node that day -#}
    select
        cluster,
        resource_key as pod_key,
        k8s_namespace,
        k8s_node
    from expenses
    where level = 'pod'
        and (cluster, date) in (
            select
                cluster_last_dates.cluster,
                cluster_last_dates.cluster_last_date
            from cluster_last_dates
        )

),

pods_rollup as (

    select
        pods_rightsized.* except (level),
        last_day_pods.k8s_namespace as k8s_namespace,
        last_day_pods.k8s_node as k8s_node,
        {#- no match: '' (join_use_nulls is off) -#}
        last_day_pods.pod_key != '' as is_active
    from pods_rightsized
    left join last_day_pods
        on pods_rightsized.cluster = last_day_pods.cluster
        and pods_rightsized.pod_key = last_day_pods.pod_key

),

rightsizing as (

    {#- Rightsizing of the pods still running on the cluster's latest day, rolled up to
        the node, namespace and cluster they run in; every pod keeps its containers (0
        for the rest when it is not running). One pass over pods_rightsized: a CTE read
        twice is computed twice. -#}
    select
        cluster,
        levels_row.1 as level,
        levels_row.2 as resource_key,
        if(level = 'pod', any(pods_rollup.containers), '') as containers,
        sumIf(pods_rollup.cpu_request_cores, is_active) as cpu_request_cores,
        sumIf(pods_rollup.ram_request_bytes, is_active) as ram_request_bytes,
        sumIf(pods_rollup.recommended_cpu_cores, is_active) as recommended_cpu_cores,
        sumIf(pods_rollup.recommended_ram_bytes, is_active) as recommended_ram_bytes,
        sumIf(pods_rollup.monthly_saving, is_active) as monthly_saving
    from pods_rollup
    array join if(
        is_active,
        [('cluster', cluster), ('node', k8s_node), ('namespace', k8s_namespace),
            ('pod', pod_key)],
        [('pod', pod_key)]
    ) as levels_row
    group by cluster, level, resource_key

),

nodes as (

    select
        cluster,
        'node' as level,
        asset_name as node,
        argMax(instance_type, date) as instance_type,
        argMax(zone, date) as zone,
        argMax(region, date) as region,
        argMax(cpu_cores, date) as capacity_cpu_cores,
        argMax(ram_bytes, date) as capacity_ram_bytes,
        argMax(is_spot, date) as is_spot,
        argMax(labels, date) as labels
    from {{ ref('stg_kubecost__assets') }}
    where asset_type = 'Node'
    group by cluster, node

),

clusters as (

    select
        'cluster' as level,
        *
    from {{ ref('stg_kubecost__clusters') }}

),

joined as (

    select
        costs_per_resource.cluster as cluster,
        costs_per_resource.level as level,
        costs_per_resource.resource_key as resource_key,
        costs_per_resource.currency as currency,
        if(resources.resource_name = '', costs_per_resource.resource_key,
            resources.resource_name) as resource_name,
        costs_per_resource.k8s_namespace as k8s_namespace,
        costs_per_resource.k8s_node as k8s_node,
        costs_per_resource.k8s_service as k8s_service,
        costs_per_resource.first_seen_date as first_seen_date,
        costs_per_resource.last_seen_date as last_seen_date,
        resources.first_seen_at as first_seen_at,
        resources.last_seen_at as last_seen_at,
        costs_per_resource.last_seen_date = cluster_last_dates.cluster_last_date
            as is_active,
        costs_per_resource.total_cost as total_cost,
        costs_per_resource.cpu_cost as cpu_cost,
        costs_per_resource.gpu_cost as gpu_cost,
        costs_per_resource.ram_cost as ram_cost,
        costs_per_resource.pv_cost as pv_cost,
        costs_per_resource.network_cost as network_cost,
        costs_per_resource.load_balancer_cost as load_balancer_cost,
        costs_per_resource.shared_cost as shared_cost,
        costs_per_resource.external_cost as external_cost,
        costs_per_resource.adjustment_cost as adjustment_cost,
        costs_per_resource.idle_cost as idle_cost,
        costs_per_resource.total_cost_with_idle as total_cost_with_idle,
        costs_per_resource.last_day_cost as last_day_cost,
        resources.cpu_efficiency as cpu_efficiency,
        resources.ram_efficiency as ram_efficiency,
        resources.total_efficiency as total_efficiency,
        if(costs_per_resource.level = 'node', nodes.labels, resources.labels) as labels,
        nodes.instance_type as instance_type,
        nodes.zone as zone,
        if(costs_per_resource.level = 'cluster', clusters.region, nodes.region) as region,
        nodes.capacity_cpu_cores as capacity_cpu_cores,
        nodes.capacity_ram_bytes as capacity_ram_bytes,
        nodes.is_spot as is_spot,
        if(costs_per_resource.level = 'pod', resources.controller_kind, '')
            as controller_kind,
        if(costs_per_resource.level = 'pod', resources.controller, '') as controller,
        if(rightsizing.containers = '', '[]', rightsizing.containers) as containers,
        rightsizing.cpu_request_cores as cpu_request_cores,
        rightsizing.ram_request_bytes as ram_request_bytes,
        rightsizing.recommended_cpu_cores as recommended_cpu_cores,
        rightsizing.recommended_ram_bytes as recommended_ram_bytes,
        rightsizing.monthly_saving as monthly_saving
    from costs_per_resource
    inner join cluster_last_dates
        on costs_per_resource.cluster = cluster_last_dates.cluster
    left join resources
        on costs_per_resource.cluster = resources.cluster
        and costs_per_resource.level = resources.level
        and costs_per_resource.resource_key = resources.resource_key
    left join rightsizing
        on costs_per_resource.cluster = rightsizing.cluster
        and costs_per_resource.level = rightsizing.level
        and costs_per_resource.resource_key = rightsizing.resource_key
    left join nodes
        on costs_per_resource.cluster = nodes.cluster
        and costs_per_resource.level = nodes.level
        and costs_per_resource.resource_key = nodes.node
    left join clusters
        on costs_per_resource.level = clusters.level
        and costs_per_resource.cluster = clusters.cluster_id

)

select * from joined
