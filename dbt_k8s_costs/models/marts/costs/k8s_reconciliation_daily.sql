{{
    config(
        engine='MergeTree()',
        order_by='(date, cluster)',
    )
}}

with

levels as (

    select
        date,
        cluster,
        any(currency) as currency,
        any(reading) as allocations_reading,
        any(extraction_id) as allocations_extraction_id,
        sumIf(total_cost, level = 'cluster') as allocated_cost,
        sumIf(expenses.idle_cost, level = 'cluster') as idle_cost,
        sumIf(total_cost, level = 'node') as node_total_cost,
        sumIf(expenses.idle_cost, level = 'node') as node_idle_cost,
        sumIf(total_cost, level = 'namespace') as namespace_total_cost,
        sumIf(total_cost, level = 'controller') as controller_total_cost,
        sumIf(total_cost, level = 'service') as service_total_cost,
        sumIf(total_cost, level = 'pod') as pod_total_cost,
        countIf(level = 'pod') as pod_count
    from {{ ref('k8s_expenses_daily') }} as expenses
    group by date, cluster

),

finest_grain as (

    select
        date,
        cluster,
        sumIf(total_cost, not is_idle) as finest_grain_cost,
        {#- list prices: Kubecost computes idle before reconciliation adjustments -#}
        sumIf(cpu_cost + gpu_cost + ram_cost, not is_idle) as allocated_compute_cost,
        count() as allocation_rows
    from {{ ref('k8s_costs_daily') }}
    group by date, cluster

),

landed_days as (

    select
        date,
        reading as landed_reading,
        extraction_id as landed_extraction_id,
        latest_extraction_id as landed_latest_extraction_id
    from {{ ref('int_allocation_days_chosen') }}

),

asset_days as (

    select distinct
        date,
        day_reading as assets_reading,
        day_extraction_id = day_latest_extraction_id as assets_latest_landed_whole
    from {{ ref('stg_kubecost__asset_extractions') }}

),

node_assets as (

    select
        date,
        cluster,
        sumIf(total_cost - adjustment, asset_type = 'Node') as node_asset_cost,
        sumIf(adjustment, asset_type = 'Node') as node_asset_adjustment,
        sum(total_cost) as asset_total_cost,
        countIf(asset_type = 'Node') as node_asset_count
    from {{ ref('stg_kubecost__assets') }}
    group by date, cluster

),

joined as (

    {#- a full join: a day or cluster in one mart and not the other shows up as a
        difference instead of vanishing -#}
    select
        date,
        cluster,
        levels.* except (date, cluster),
        finest_grain.* except (date, cluster),
        landed_days.* except (date),
        asset_days.* except (date),
        node_assets.* except (date, cluster),
        node_assets.node_asset_count > 0 as has_node_assets
    from levels
    full join finest_grain using (date, cluster)
    left join landed_days using (date)
    left join asset_days using (date)
    left join node_assets using (date, cluster)

),

compared as (

    select
        *,
        finest_grain_cost - allocated_cost as finest_grain_minus_allocated,
        namespace_total_cost - allocated_cost as namespaces_minus_allocated,
        node_total_cost - allocated_cost as nodes_minus_allocated,
        controller_total_cost - allocated_cost as controllers_minus_allocated,
        service_total_cost - allocated_cost as services_minus_allocated,
        pod_total_cost - namespace_total_cost as pods_minus_namespaces,
        multiIf(
            {#- without idle rows allocations cannot add up to the nodes -#}
            '{{ var("kubecost_idle_policy") }}' = 'none',
                'idle policy none: the allocations hold no idle',
            not has_node_assets, 'no Node assets landed for the day and cluster',
            {#- both sides must be the day's latest readings (of one sync): after a
                re-read that landed in part, one side is older than the other -#}
            allocations_reading not in ('complete', 'legacy')
                or landed_reading != allocations_reading
                or landed_extraction_id != allocations_extraction_id
                or landed_latest_extraction_id != allocations_extraction_id,
                'the latest reading of the allocations is not the one the marts hold',
            assets_reading not in ('complete', 'legacy') or not assets_latest_landed_whole,
                'the latest reading of the Node assets did not land whole',
            ''
        ) as node_assets_unchecked_reason,
        node_assets_unchecked_reason = '' as node_assets_checked,
        if(
            node_assets_checked,
            allocated_compute_cost + idle_cost - node_asset_cost,
            null
        ) as compute_plus_idle_minus_node_assets,
        lagInFrame(date, 1, date) over (
            partition by cluster order by date
            rows between unbounded preceding and current row
        ) as previous_date,
        greatest(dateDiff('day', previous_date, date) - 1, 0) as missing_days_before
    from joined

)

select * from compared
