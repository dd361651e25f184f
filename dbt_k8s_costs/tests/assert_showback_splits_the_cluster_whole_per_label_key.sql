{#- Each label key of k8s_showback_daily splits a cluster's allocated cost whole: per day,
    cluster and key, the values add up to the cluster's total. Lists every day, cluster
    and key that does not (a missing key counts as 0). -#}

with

per_key as (

    select date, cluster, label_key, sum(total_cost) as total_cost
    from {{ ref('k8s_showback_daily') }}
    group by date, cluster, label_key

),

expected as (

    select clusters.date, clusters.cluster, keys.label_key, clusters.total_cost
    from {{ ref('k8s_cluster_costs_daily') }} as clusters
    cross join (select arrayJoin({{ showback_label_keys() }}) as label_key) as keys

)

select
    expected.date,
    expected.cluster,
    expected.label_key,
    per_key.total_cost - expected.total_cost as difference
from expected
left join per_key
    on per_key.date = expected.date and per_key.cluster = expected.cluster
    and per_key.label_key = expected.label_key
where abs(difference) > {{ var('reconciliation_tolerance', 0.000001) }}
