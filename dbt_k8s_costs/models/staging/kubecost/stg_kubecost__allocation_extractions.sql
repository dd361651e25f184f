{#- Every landed allocation row's day and extraction time, without deduplication: the
    latest extraction per day is the same before and after deduplication, and reading three
    columns is far cheaper than deduplicating the table. Incremental marts read it to find
    the days a sync (re-)read. -#}

with

source as (

    select * from {{ source('kubecost', 'allocations') }}

),

renamed as (

    select
        ---------- ids
        toDate(window_start) as date,
        granularity,
        idle_policy,

        ---------- timestamps
        _airbyte_extracted_at as extracted_at

    from source

)

select * from renamed
