-- k8s_expenses_daily equals the ground truth generate_seeds.py computed, row for row:
-- no row missing, none extra, every total and idle within the tolerance.
with

expected as (

    select * from {{ ref('expected_expenses') }}

),

actual as (

    select date, cluster, level, resource_key, total_cost, idle_cost
    from {{ ref('k8s_expenses_daily') }}

)

select
    expected.date as expected_date,
    actual.date as actual_date,
    expected.cluster as expected_cluster,
    actual.cluster as actual_cluster,
    expected.level as expected_level,
    actual.level as actual_level,
    expected.resource_key as expected_key,
    actual.resource_key as actual_key,
    expected.total_cost as expected_total,
    actual.total_cost as actual_total,
    expected.idle_cost as expected_idle,
    actual.idle_cost as actual_idle
from expected
full outer join actual
    on expected.date = actual.date
    and expected.cluster = actual.cluster
    and expected.level = actual.level
    and expected.resource_key = actual.resource_key
where expected.level = '' or actual.level = ''
    or abs(expected.total_cost - actual.total_cost) > {{ var('reconciliation_tolerance', 0.000001) }}
    or abs(expected.idle_cost - actual.idle_cost) > {{ var('reconciliation_tolerance', 0.000001) }}
