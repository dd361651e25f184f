-- Every landing primary key appears once in k8s_costs_daily with the numbers of its latest
-- extraction: the re-read of day 3 restated its adjustments and must not add to the old.
with

latest as (

    select
        window_start,
        name,
        argMax(totalCost, _airbyte_extracted_at) as total_cost
    from {{ source('kubecost', 'allocations') }}
    group by window_start, name

),

mart as (

    select window_start, allocation_name as name, total_cost, count() over (
        partition by window_start, allocation_name
    ) as copies
    from {{ ref('k8s_costs_daily') }}

)

select latest.*, mart.total_cost as mart_total_cost, mart.copies
from latest
left join mart
    on latest.window_start = mart.window_start and latest.name = mart.name
where mart.copies != 1
    or abs(toFloat64(latest.total_cost) - mart.total_cost) > {{ var('reconciliation_tolerance', 0.000001) }}
