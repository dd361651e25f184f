{{ config(materialized='view') }}

{#- Showback by label, as Kubecost's label mapping reads labels: for each key of
    `showback_label_keys`, an allocation belongs to its pod's label value, else to its
    namespace's (pod labels win), else to `__unallocated__`. One row per date, cluster,
    label key and value: every key splits the cluster's allocated cost whole. Idle is not
    in it (k8s_cluster_costs_daily has it). -#}

with

allocations as (

    select * from {{ ref('k8s_costs_daily') }}
    where not is_idle

),

labelled as (

    select
        *,
        arrayJoin({{ showback_label_keys() }}) as label_key,
        multiIf(
            labels[label_key] != '', labels[label_key],
            namespace_labels[label_key] != '', namespace_labels[label_key],
            '__unallocated__'
        ) as label_value
    from allocations

),

showback as (

    select
        date,
        cluster,
        label_key,
        label_value,
        cast(currency as String) as currency,
        sum(cpu_cost) as cpu_cost,
        sum(gpu_cost) as gpu_cost,
        sum(ram_cost) as ram_cost,
        sum(pv_cost) as pv_cost,
        sum(network_cost) as network_cost,
        sum(load_balancer_cost) as load_balancer_cost,
        sum(shared_cost) as shared_cost,
        sum(external_cost) as external_cost,
        sum(adjustment_cost) as adjustment_cost,
        sum(total_cost) as total_cost,
        countIf(labels[label_key] != '') as allocations_by_pod_label,
        countIf(labels[label_key] = '' and namespace_labels[label_key] != '')
            as allocations_by_namespace_label,
        count() as allocations
    from labelled
    group by date, cluster, label_key, label_value, currency

)

select * from showback
