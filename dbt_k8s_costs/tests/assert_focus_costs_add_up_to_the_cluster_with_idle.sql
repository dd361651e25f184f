{#- The FOCUS rows of a day and cluster (pods and idle) add up to the cluster's cost with
    idle, and their ListCost to it without adjustments. Lists every day and cluster that
    does not. -#}

with

focus as (

    select
        toDate(ChargePeriodStart) as date,
        x_ClusterId as cluster,
        sum(EffectiveCost) as effective_cost,
        sum(ListCost) as list_cost
    from {{ ref('k8s_focus_costs') }}
    group by date, cluster

)

select
    clusters.date,
    clusters.cluster,
    focus.effective_cost - clusters.total_cost_with_idle as effective_difference,
    focus.list_cost - (clusters.total_cost_with_idle - clusters.adjustment_cost)
        as list_difference
from {{ ref('k8s_cluster_costs_daily') }} as clusters
left join focus on focus.date = clusters.date and focus.cluster = clusters.cluster
where abs(effective_difference) > {{ var('reconciliation_tolerance', 0.000001) }}
    or abs(list_difference) > {{ var('reconciliation_tolerance', 0.000001) }}
