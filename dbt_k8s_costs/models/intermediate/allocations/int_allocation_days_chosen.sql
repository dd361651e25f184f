{#- One row per day of the granularity and idle policy the marts read: how the day is
    read (`complete`, `legacy` or `incomplete`), the id of its reading ('' unless
    complete) and of its latest reading, whether it landed whole or not. The incremental
    marts keep the first two on their rows and rebuild exactly the days whose reading
    changed. -#}

with

extractions as (

    select * from {{ ref('stg_kubecost__allocation_extractions') }}
    where granularity = '{{ var("kubecost_granularity") }}'
        and idle_policy = '{{ var("kubecost_idle_policy") }}'

),

days as (

    select distinct
        date,
        day_reading as reading,
        day_extraction_id as extraction_id,
        day_latest_extraction_id as latest_extraction_id
    from extractions

)

select * from days
