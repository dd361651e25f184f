{{ config(materialized='view') }}

{#- Kubecost's Assets, one row per asset and day (each day its latest complete reading, as
    staging chose it), with the cluster's currency: nodes with their capacity, disks,
    load balancers, cluster management and the rest, so the Assets report can be rebuilt
    with a group by. -#}

with

assets as (

    select * from {{ ref('stg_kubecost__assets') }}

),

clusters as (

    select
        cluster_id,
        currency
    from {{ ref('stg_kubecost__clusters') }}

),

joined as (

    select
        assets.date as date,
        assets.cluster as cluster,
        assets.asset_type as asset_type,
        assets.asset_key as asset_key,
        assets.asset_name as asset_name,
        assets.category as category,
        assets.provider as provider,
        assets.account as account,
        assets.project as project,
        assets.service as service,
        assets.provider_id as provider_id,
        assets.region as region,
        assets.zone as zone,
        assets.instance_type as instance_type,
        assets.node_pool as node_pool,
        toBool(assets.is_spot) as is_spot,
        assets.storage_class as storage_class,
        assets.volume_name as volume_name,
        assets.claim_namespace as claim_namespace,
        assets.claim_name as claim_name,
        assets.load_balancer_ip as load_balancer_ip,
        assets.labels as labels,
        assets.running_start as running_start,
        assets.running_end as running_end,
        assets.running_minutes as running_minutes,
        assets.cpu_cores as cpu_cores,
        assets.ram_bytes as ram_bytes,
        assets.gpu_count as gpu_count,
        assets.disk_bytes as disk_bytes,
        assets.cpu_core_hours as cpu_core_hours,
        assets.ram_byte_hours as ram_byte_hours,
        assets.gpu_hours as gpu_hours,
        assets.disk_byte_hours as disk_byte_hours,
        assets.cpu_cost as cpu_cost,
        assets.gpu_cost as gpu_cost,
        assets.ram_cost as ram_cost,
        assets.discount as discount,
        assets.credit as credit,
        assets.adjustment as adjustment,
        assets.total_cost - assets.adjustment as cost_before_adjustment,
        assets.total_cost as total_cost,
        {#- '' when the clusters stream does not know the cluster or its currency -#}
        ifNull(clusters.currency, '') as currency,
        assets.extraction_id as extraction_id
    from assets
    left join clusters on assets.cluster = clusters.cluster_id
    settings join_use_nulls = 1

)

select * from joined
