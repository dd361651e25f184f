{{ config(materialized='view') }}

{#- Kubernetes costs in FinOps FOCUS 1.2 columns: one row per day, cluster and pod (its
    allocated cost) and one per day, cluster and idle row (node capacity no pod requested),
    so the rows of a day and cluster add up to the cluster's cost with idle. Which FOCUS
    columns are filled and how each is derived: docs/focus.md. -#}

with

pods as (

    select * from {{ ref('k8s_pod_costs_daily') }}

),

idle as (

    select * from {{ ref('k8s_expenses_daily') }}
    where level = 'idle'

),

clusters as (

    select * from {{ ref('stg_kubecost__clusters') }}

),

charges as (

    select
        pods.date as date,
        pods.cluster as cluster,
        'pod' as cost_type,
        concat(pods.cluster, '/', pods.resource_key) as resource_id,
        pods.pod as resource_name,
        'Kubernetes Pod' as resource_type,
        concat('Kubernetes pod ', pods.resource_key, ' in cluster ', pods.cluster)
            as charge_description,
        pods.namespace as namespace,
        pods.pod as pod,
        pods.node as node,
        pods.controller_kind as controller_kind,
        pods.controller as controller,
        pods.currency as currency,
        pods.cpu_cost as cpu_cost,
        pods.gpu_cost as gpu_cost,
        pods.ram_cost as ram_cost,
        pods.pv_cost as pv_cost,
        pods.network_cost as network_cost,
        pods.load_balancer_cost as load_balancer_cost,
        pods.shared_cost as shared_cost,
        pods.external_cost as external_cost,
        pods.adjustment_cost as adjustment_cost,
        pods.total_cost as total_cost,
        pods.cpu_efficiency as cpu_efficiency,
        pods.ram_efficiency as ram_efficiency,
        pods.total_efficiency as total_efficiency,
        pods.labels as tags
    from pods

    union all

    select
        date,
        cluster,
        'idle' as cost_type,
        concat(cluster, '/__idle__/', resource_key) as resource_id,
        '__idle__' as resource_name,
        'Kubernetes Idle Capacity' as resource_type,
        if(
            resource_key = cluster,
            concat('Idle capacity of cluster ', cluster),
            concat('Idle capacity of node ', resource_key, ' in cluster ', cluster)
        ) as charge_description,
        '' as namespace,
        '' as pod,
        k8s_node as node,
        '' as controller_kind,
        '' as controller,
        currency,
        idle_cpu_cost as cpu_cost,
        idle_gpu_cost as gpu_cost,
        idle_ram_cost as ram_cost,
        0 as pv_cost,
        0 as network_cost,
        0 as load_balancer_cost,
        0 as shared_cost,
        0 as external_cost,
        0 as adjustment_cost,
        idle_cost as total_cost,
        null as cpu_efficiency,
        null as ram_efficiency,
        null as total_efficiency,
        map() as tags
    from idle

),

focus as (

    select
        ---------- FOCUS 1.2 columns (docs/focus.md)
        charges.total_cost as BilledCost,
        charges.total_cost as EffectiveCost,
        charges.total_cost - charges.adjustment_cost as ListCost,
        charges.total_cost - charges.adjustment_cost as ContractedCost,
        nullIf(charges.currency, '') as BillingCurrency,
        toDateTime(toStartOfMonth(charges.date), 'UTC') as BillingPeriodStart,
        toDateTime(toStartOfMonth(charges.date) + interval 1 month, 'UTC') as BillingPeriodEnd,
        toDateTime(charges.date, 'UTC') as ChargePeriodStart,
        toDateTime(charges.date + 1, 'UTC') as ChargePeriodEnd,
        'Usage' as ChargeCategory,
        cast(null as Nullable(String)) as ChargeClass,
        charges.charge_description as ChargeDescription,
        'Usage-Based' as ChargeFrequency,
        'Kubernetes' as ServiceName,
        'Compute' as ServiceCategory,
        charges.resource_id as ResourceId,
        charges.resource_name as ResourceName,
        charges.resource_type as ResourceType,
        nullIf(clusters.region, '') as RegionId,
        nullIf(clusters.account, '') as SubAccountId,
        nullIf(clusters.provider, '') as ProviderName,
        nullIf(clusters.provider, '') as PublisherName,
        nullIf(clusters.provider, '') as InvoiceIssuerName,
        if(empty(charges.tags), null, toJSONString(charges.tags)) as Tags,

        ---------- custom columns: the Kubernetes dimensions and Kubecost's breakdown
        charges.cluster as x_ClusterId,
        charges.cost_type as x_CostType,
        charges.namespace as x_NamespaceName,
        charges.pod as x_PodName,
        charges.node as x_NodeName,
        charges.controller_kind as x_ControllerKind,
        charges.controller as x_ControllerName,
        charges.cpu_cost as x_CpuCost,
        charges.gpu_cost as x_GpuCost,
        charges.ram_cost as x_RamCost,
        charges.pv_cost as x_PersistentVolumeCost,
        charges.network_cost as x_NetworkCost,
        charges.load_balancer_cost as x_LoadBalancerCost,
        charges.shared_cost as x_SharedCost,
        charges.external_cost as x_ExternalCost,
        charges.adjustment_cost as x_AdjustmentCost,
        charges.cpu_efficiency as x_CpuEfficiency,
        charges.ram_efficiency as x_RamEfficiency,
        charges.total_efficiency as x_TotalEfficiency
    from charges
    left join clusters on charges.cluster = clusters.cluster_id
    settings join_use_nulls = 1

)

select * from focus
