{{ config(materialized='view') }}

{#- The cluster dimension: every cluster of the clusters stream or of the marts, with its
    provider, region, account, currency and versions, and the days it has costs. -#}

with

clusters as (

    select * from {{ ref('stg_kubecost__clusters') }}

),

days as (

    select
        cluster,
        min(date) as first_date,
        max(date) as last_date,
        uniqExact(date) as days_with_costs
    from {{ ref('k8s_cluster_costs_daily') }}
    group by cluster

),

joined as (

    select
        assumeNotNull(coalesce(clusters.cluster_id, days.cluster)) as cluster,
        ifNull(clusters.cluster_name, '') as cluster_name,
        ifNull(clusters.provider, '') as provider,
        ifNull(clusters.provisioner, '') as provisioner,
        ifNull(clusters.account, '') as account,
        ifNull(clusters.project, '') as project,
        ifNull(clusters.region, '') as region,
        ifNull(clusters.profile, '') as profile,
        ifNull(clusters.currency, '') as currency,
        ifNull(clusters.kubernetes_version, '') as kubernetes_version,
        ifNull(clusters.kubecost_version, '') as kubecost_version,
        toBool(clusters.cluster_id is not null) as is_in_clusters_stream,
        days.first_date as first_date,
        days.last_date as last_date,
        ifNull(days.days_with_costs, 0) as days_with_costs
    from clusters
    full outer join days on clusters.cluster_id = days.cluster
    settings join_use_nulls = 1

)

select * from joined
