{#- One row per reading (extraction) of a day of assets: what landed of it, whether it
    landed whole, and how stg_kubecost__assets reads the day (see
    stg_kubecost__allocation_extractions). -#}
{{
    config(
        materialized='table',
        engine='MergeTree()',
        order_by='(window_start, extraction_id)',
    )
}}

with

source as (

    select * from {{ source('kubecost', 'assets') }}

),

extractions as (

    {{ summarize_extractions('source', ['window_start'], 'key') | indent(4) }}

)

select * from extractions
