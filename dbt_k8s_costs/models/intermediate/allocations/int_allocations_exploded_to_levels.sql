{#- Every allocation row the marts read once per level it rolls up into: allocated rows
    into cluster, node, namespace, controller, service and pod; idle rows into the
    cluster, the node they belong to (idle by node) and the `idle` level. Ephemeral:
    k8s_expenses_daily aggregates it for the days it rebuilds. -#}

with

costs as (

    select * from {{ ref('int_allocations_filtered_to_marts_grain') }}

),

level_keys_assigned as (

    select
        *,
        if(
            controller = '',
            concat(namespace, '/__unallocated__'),
            concat(namespace, '/', controller_kind, ':', controller)
        ) as controller_key,
        concat(namespace, '/', if(service = '', '__unallocated__', service)) as service_key,
        concat(namespace, '/', pod) as pod_key,
        if(node = '', '__unallocated__', node) as node_key,
        if(is_idle,
            [
                ('cluster', cluster, '', '', ''),
                ('node', node, '', node, ''),
                ('idle', if(node = '', cluster, node), '', node, '')
            ],
            [
                ('cluster', cluster, '', '', ''),
                ('node', node_key, '', node, ''),
                ('namespace', namespace, namespace, '', ''),
                ('controller', controller_key, namespace, '', ''),
                ('service', service_key, namespace, '', service),
                ('pod', pod_key, namespace, node, service)
            ]
        ) as levels

    from costs

),

exploded as (

    select
        date,
        cluster,
        levels_row.1 as level,
        levels_row.2 as resource_key,
        levels_row.3 as k8s_namespace,
        levels_row.4 as k8s_node,
        levels_row.5 as k8s_service,
        is_idle,
        cpu_cost,
        gpu_cost,
        ram_cost,
        pv_cost,
        network_cost,
        load_balancer_cost,
        shared_cost,
        external_cost,
        adjustment_cost,
        total_cost,
        currency,
        reading,
        extraction_id,
        extracted_at
    from level_keys_assigned
    array join levels as levels_row
    -- idle rows without a node (idle per cluster) have no node to land on
    where not (is_idle and levels_row.1 = 'node' and node = '')

)

select * from exploded
