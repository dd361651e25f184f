with

source as (

    select * from {{ source('kubecost', 'clusters') }}
    {{ latest_extraction_per(['id']) }}

),

renamed as (

    select
        ---------- ids
        id as cluster_id,

        ---------- strings
        ifNull(name, '') as cluster_name,
        ifNull(provider, '') as provider,
        ifNull(account, '') as account,
        ifNull(project, '') as project,
        ifNull(region, '') as region,
        ifNull(provisioner, '') as provisioner,
        ifNull(profile, '') as profile,
        {#- clusterInfo's `version` is the Kubernetes version (major.minor, e.g. 1.29+) -#}
        ifNull(version, '') as kubernetes_version,
        ifNull(currency, '') as currency,
        {%- set kubecost_version = landed_column_or(
            source('kubecost', 'clusters'), 'kubecostVersion', 'null') %}
        ifNull({{ kubecost_version }}, '') as kubecost_version,

        ---------- timestamps
        _airbyte_extracted_at as extracted_at

    from source

)

select * from renamed
