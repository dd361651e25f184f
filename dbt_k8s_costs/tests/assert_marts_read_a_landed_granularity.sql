-- Allocations landed, but none with the granularity and idle policy the marts read: every
-- mart would be silently empty. The rows show what did land. Fix: set the vars to the
-- connector's settings, e.g. --vars '{kubecost_granularity: pod, kubecost_idle_policy: shared}'.
with

landed as (

    select
        granularity,
        idle_policy,
        sum(landed_rows) as landed_rows
    from {{ ref('stg_kubecost__allocation_extractions') }}
    group by granularity, idle_policy

),

read_by_the_marts as (

    select count() as matching_groups
    from landed
    where
        granularity = '{{ var("kubecost_granularity") }}'
        and idle_policy = '{{ var("kubecost_idle_policy") }}'

)

select
    landed.*,
    '{{ var("kubecost_granularity") }}' as marts_granularity,
    '{{ var("kubecost_idle_policy") }}' as marts_idle_policy
from landed
cross join read_by_the_marts
where read_by_the_marts.matching_groups = 0
