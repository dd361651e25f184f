{#- Every per-level mart is safe to sum: per day and cluster, the rows of each level add up
    to the cluster's allocated cost, and (below the node, where idle is shared) to its
    total with idle. Lists the day, cluster and level of every sum that does not. -#}

{%- set levels = {
    'node': 'k8s_node_costs_daily',
    'namespace': 'k8s_namespace_costs_daily',
    'controller': 'k8s_controller_costs_daily',
    'service': 'k8s_service_costs_daily',
    'pod': 'k8s_pod_costs_daily',
} %}

with

levels as (

    {%- for level, model in levels.items() %}
    select
        '{{ level }}' as level,
        date,
        cluster,
        sum(total_cost) as total_cost,
        {{ 'null' if level == 'node' else 'sum(total_cost_with_idle)' }} as total_cost_with_idle
    from {{ ref(model) }}
    where {{ recent_days_only('date') }}
    group by date, cluster
    {{ 'union all' if not loop.last }}
    {%- endfor %}

)

select
    levels.level,
    levels.date,
    levels.cluster,
    levels.total_cost - clusters.total_cost as allocated_difference,
    levels.total_cost_with_idle - clusters.total_cost_with_idle as with_idle_difference
from levels
inner join {{ ref('k8s_expenses_daily') }} as clusters
    on levels.date = clusters.date and levels.cluster = clusters.cluster
    and clusters.level = 'cluster'
where abs(allocated_difference) > {{ var('reconciliation_tolerance', 0.000001) }}
    or abs(ifNull(with_idle_difference, 0)) > {{ var('reconciliation_tolerance', 0.000001) }}
