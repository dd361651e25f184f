-- k8s_costs_daily holds exactly the allocations of each day's latest reading, once each,
-- with their cost: generate_seeds.py wrote the expected rows from the values the readings
-- were built from (the kube-proxy pod that day 3's re-read no longer has is not expected).
with

expected as (

    select * from {{ ref('expected_costs') }}

),

actual as (

    select date, allocation_name, total_cost, count() over (
        partition by date, allocation_name
    ) as copies
    from {{ ref('k8s_costs_daily') }}

)

select
    expected.date as expected_date,
    actual.date as actual_date,
    expected.allocation_name as expected_name,
    actual.allocation_name as actual_name,
    expected.total_cost as expected_total,
    actual.total_cost as actual_total,
    actual.copies as copies
from expected
full outer join actual
    on expected.date = actual.date
    and expected.allocation_name = actual.allocation_name
where expected.allocation_name = '' or actual.allocation_name = '' or actual.copies != 1
    or abs(expected.total_cost - actual.total_cost)
        > {{ var('reconciliation_tolerance', 0.000001) }}
