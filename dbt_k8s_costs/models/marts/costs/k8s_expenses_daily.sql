{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        on_schema_change='fail',
        engine='MergeTree()',
        order_by='(date, cluster, level, resource_key)',
        partition_by='date',
        query_settings={'max_bytes_before_external_group_by': 536870912},
    )
}}

{#- Every day of k8s_costs_daily rolled up to each level. Allocated rows add to their
    cluster, node, namespace, controller, service and pod; idle rows to their cluster,
    their node (idle by node) and the `idle` level. One pass: a grouping set per level,
    each keyed by that level's resource key, null where a row does not roll into the
    level. Rebuilds the days k8s_costs_daily holds differently, each replacing its
    partition (one per day). A full build groups millions of pod-days: past 512 MB the
    aggregation spills to disk instead of growing (1 GB saved 3 of its 12 CPU seconds at
    20,000 pods x 90 days, but made it the build's peak: 2.03 GB). -#}

with

costs as (

    select * from {{ ref('k8s_costs_daily') }}
    {% if is_incremental() -%}
    where date in {{ days_changed_in(ref('k8s_costs_daily')) }}
    {%- endif %}

),

keyed as (

    select
        *,
        {#- the resource key of the row at each level; null: the row is not in it -#}
        if(is_idle, nullIf(node, ''), {{ level_resource_key('node') }}) as node_key,
        if(is_idle, null, {{ level_resource_key('namespace') }}) as namespace_key,
        if(is_idle, null, {{ level_resource_key('controller') }}) as controller_key,
        if(is_idle, null, {{ level_resource_key('service') }}) as service_key,
        if(is_idle, null, {{ level_resource_key('pod') }}) as pod_key,
        if(is_idle, if(node = '', cluster, node), null) as idle_key
    from costs

),

aggregated as (

    select
        date,
        cluster,
        multiIf(
            grouping(node_key) = 0, 'node',
            grouping(namespace_key) = 0, 'namespace',
            grouping(controller_key) = 0, 'controller',
            grouping(service_key) = 0, 'service',
            grouping(pod_key) = 0, 'pod',
            grouping(idle_key) = 0, 'idle',
            'cluster'
        ) as level,
        multiIf(
            level = 'node', node_key,
            level = 'namespace', namespace_key,
            level = 'controller', controller_key,
            level = 'service', service_key,
            level = 'pod', pod_key,
            level = 'idle', idle_key,
            cluster
        ) as level_key,
        if(level in ('namespace', 'controller', 'service', 'pod'), any(keyed.namespace), '')
            as k8s_namespace,
        {#- a pod that moved during the day is shown on the node it cost most on;
            `keyed.` on purpose: a bare `total_cost` is the SELECT's alias (the sumIf below) -#}
        if(level in ('node', 'pod', 'idle'), argMax(keyed.node, keyed.total_cost), '')
            as k8s_node,
        if(level in ('service', 'pod'), any(keyed.service), '') as k8s_service,
        sumIf(keyed.cpu_cost, not is_idle) as cpu_cost,
        sumIf(keyed.gpu_cost, not is_idle) as gpu_cost,
        sumIf(keyed.ram_cost, not is_idle) as ram_cost,
        sumIf(keyed.pv_cost, not is_idle) as pv_cost,
        sumIf(keyed.network_cost, not is_idle) as network_cost,
        sumIf(keyed.load_balancer_cost, not is_idle) as load_balancer_cost,
        sumIf(keyed.shared_cost, not is_idle) as shared_cost,
        sumIf(keyed.external_cost, not is_idle) as external_cost,
        sumIf(keyed.adjustment_cost, not is_idle) as adjustment_cost,
        sumIf(keyed.total_cost, not is_idle) as total_cost,
        sumIf(keyed.cpu_cost, is_idle) as idle_cpu_cost,
        sumIf(keyed.gpu_cost, is_idle) as idle_gpu_cost,
        sumIf(keyed.ram_cost, is_idle) as idle_ram_cost,
        sumIf(keyed.total_cost, is_idle) as idle_cost,
        total_cost + idle_cost as total_cost_with_idle,
        any(keyed.currency) as currency,
        any(keyed.reading) as reading,
        any(keyed.extraction_id) as extraction_id,
        max(keyed.extracted_at) as extracted_at
    from keyed
    group by grouping sets (
        (date, cluster),
        (date, cluster, node_key),
        (date, cluster, namespace_key),
        (date, cluster, controller_key),
        (date, cluster, service_key),
        (date, cluster, pod_key),
        (date, cluster, idle_key)
    )
    {#- the rows of a level's set whose key is null are not in that level -#}
    having level_key is not null

),

expenses as (

    select
        date,
        cluster,
        level,
        assumeNotNull(level_key) as resource_key,
        * except (date, cluster, level, level_key)
    from aggregated

)

select * from expenses
