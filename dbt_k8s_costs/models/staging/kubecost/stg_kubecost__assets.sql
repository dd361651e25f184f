{#- The assets each day is built from: the rows of the day's latest complete reading, as
    stg_kubecost__asset_extractions chose it. -#}

with

extractions as (

    select * from {{ ref('stg_kubecost__asset_extractions') }}

),

source as (

    {{ rows_of_chosen_readings(
        source('kubecost', 'assets'), 'extractions', ['window_start'], 'key'
    ) | indent(4) }}

),

renamed as (

    select
        ---------- ids (never null: key columns are Nullable in append and overwrite tables)
        toDate(assumeNotNull(window_start)) as date,
        assumeNotNull(window_start) as window_start,
        window_end,
        assumeNotNull(key) as asset_key,

        ---------- strings
        ifNull(type, '') as asset_type,
        ifNull(category, '') as category,
        ifNull(provider, '') as provider,
        ifNull(account, '') as account,
        ifNull(project, '') as project,
        ifNull(service, '') as service,
        ifNull(cluster, '') as cluster,
        ifNull(name, '') as asset_name,
        ifNull(providerID, '') as provider_id,
        {{ json_map('labels') }} as labels,
        ifNull(nodeType, '') as node_type,
        ifNull(pool, '') as node_pool,
        ifNull(storageClass, '') as storage_class,
        ifNull(volumeName, '') as volume_name,
        ifNull(claimName, '') as claim_name,
        ifNull(claimNamespace, '') as claim_namespace,
        ifNull(ip, '') as load_balancer_ip,
        ifNull(extraction_id, '') as extraction_id,
        {#- Kubernetes well-known labels, as Prometheus sanitises them (with or without
            the `label_` prefix, depending on the Kubecost version). -#}
        coalesce(
            nullIf(labels['topology_kubernetes_io_zone'], ''),
            nullIf(labels['label_topology_kubernetes_io_zone'], ''),
            nullIf(labels['failure_domain_beta_kubernetes_io_zone'], ''),
            nullIf(labels['label_failure_domain_beta_kubernetes_io_zone'], ''),
            ''
        ) as zone,
        coalesce(
            nullIf(labels['topology_kubernetes_io_region'], ''),
            nullIf(labels['label_topology_kubernetes_io_region'], ''),
            nullIf(labels['failure_domain_beta_kubernetes_io_region'], ''),
            nullIf(labels['label_failure_domain_beta_kubernetes_io_region'], ''),
            ''
        ) as region,
        coalesce(
            nullIf(node_type, ''),
            nullIf(labels['node_kubernetes_io_instance_type'], ''),
            nullIf(labels['label_node_kubernetes_io_instance_type'], ''),
            nullIf(labels['beta_kubernetes_io_instance_type'], ''),
            ''
        ) as instance_type,

        ---------- numerics
        {{ to_float('minutes') }} as running_minutes,
        {{ to_float('cpuCores') }} as cpu_cores,
        {{ to_float('ramBytes') }} as ram_bytes,
        {{ to_float('gpuCount') }} as gpu_count,
        {{ to_float('cpuCoreHours') }} as cpu_core_hours,
        {{ to_float('ramByteHours') }} as ram_byte_hours,
        {{ to_float('GPUHours') }} as gpu_hours,
        {{ to_float('bytes') }} as disk_bytes,
        {{ to_float('byteHours') }} as disk_byte_hours,
        {{ to_float('byteHoursUsed') }} as disk_byte_hours_used,
        {{ to_float('byteUsageMax') }} as disk_byte_usage_max,
        {{ to_float('cpuCost') }} as cpu_cost,
        {{ to_float('gpuCost') }} as gpu_cost,
        {{ to_float('ramCost') }} as ram_cost,
        {{ to_float('discount') }} as discount,
        {{ to_float('credit') }} as credit,
        {{ to_float('adjustment') }} as adjustment,
        {{ to_float('totalCost') }} as total_cost,

        ---------- booleans
        {{ to_float('preemptible') }} > 0
            or lower(labels['eks_amazonaws_com_capacityType']) = 'spot'
            or lower(labels['karpenter_sh_capacity_type']) = 'spot'
            or labels['cloud_google_com_gke_spot'] = 'true'
            or labels['cloud_google_com_gke_preemptible'] = 'true'
            or lower(labels['kubernetes_azure_com_scalesetpriority']) = 'spot'
            as is_spot,
        ifNull(private, false) as is_private,

        ---------- timestamps
        start as running_start,
        `end` as running_end,
        _airbyte_extracted_at as extracted_at

    from source

)

select * from renamed
