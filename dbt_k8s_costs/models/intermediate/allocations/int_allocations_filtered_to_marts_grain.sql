{#- The allocations the marts are built from: the granularity and idle policy the vars
    name, each row with its service, its cluster's currency and how its day was read (the
    day's reading and its status, which the incremental marts keep to know when a day
    changed). -#}

with

allocations as (

    select * from {{ ref('stg_kubecost__allocations') }}
    where granularity = '{{ var("kubecost_granularity") }}'
        and idle_policy = '{{ var("kubecost_idle_policy") }}'

),

days as (

    select
        date as day,
        reading as day_reading,
        extraction_id as day_extraction_id
    from {{ ref('int_allocation_days_chosen') }}

),

clusters as (

    select
        cluster_id,
        currency
    from {{ ref('stg_kubecost__clusters') }}

),

joined as (

    select
        allocations.* except (extraction_id, granularity, idle_policy, aggregate),
        if(empty(allocations.services), '', allocations.services[1]) as service,
        {#- '' when the clusters stream does not know the cluster or its currency -#}
        toLowCardinality(clusters.currency) as currency,
        toLowCardinality(days.day_reading) as reading,
        toLowCardinality(days.day_extraction_id) as extraction_id,
        allocations.granularity as granularity,
        allocations.idle_policy as idle_policy
    from allocations
    inner join days on allocations.date = days.day
    left join clusters on allocations.cluster = clusters.cluster_id

)

select * from joined
