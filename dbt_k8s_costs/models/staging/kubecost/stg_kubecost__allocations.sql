{#- The allocations each day is built from: the rows of the day's latest complete reading
    (per granularity and idle policy), as stg_kubecost__allocation_extractions chose it.
    Keys a restatement dropped are gone with the older readings. -#}

with

extractions as (

    select * from {{ ref('stg_kubecost__allocation_extractions') }}

),

source as (

    {{ rows_of_chosen_readings(
        source('kubecost', 'allocations'), 'extractions',
        ['window_start', 'granularity', 'idle_policy'], 'name'
    ) | indent(4) }}

),

renamed as (

    select
        ---------- ids (never null: key columns are Nullable in append and overwrite tables)
        toDate(assumeNotNull(window_start)) as date,
        assumeNotNull(window_start) as window_start,
        window_end,
        assumeNotNull(name) as allocation_name,
        assumeNotNull(granularity) as granularity,
        assumeNotNull(idle_policy) as idle_policy,
        ifNull(aggregate, '') as aggregate,

        ---------- strings
        ifNull(cluster, '') as cluster,
        ifNull(node, '') as node,
        ifNull(namespace, '') as namespace,
        ifNull(controllerKind, '') as controller_kind,
        ifNull(controller, '') as controller,
        ifNull(pod, '') as pod,
        ifNull(container, '') as container,
        ifNull(providerID, '') as provider_id,
        JSONExtract(ifNull(services, '[]'), 'Array(String)') as services,
        {{ json_map('labels') }} as labels,
        {{ json_map('annotations') }} as annotations,
        {{ json_map('namespaceLabels') }} as namespace_labels,
        {{ json_map('namespaceAnnotations') }} as namespace_annotations,
        ifNull(query_settings, '{}') as query_settings,
        ifNull(extraction_id, '') as extraction_id,

        ---------- numerics: usage and requests
        {{ to_float('minutes') }} as running_minutes,
        {{ to_float('cpuCores') }} as cpu_cores,
        {{ to_float('cpuCoreHours') }} as cpu_core_hours,
        {{ to_float('cpuCoreRequestAverage') }} as cpu_core_request_average,
        {{ to_float('cpuCoreUsageAverage') }} as cpu_core_usage_average,
        {{ to_float('gpuCount') }} as gpu_count,
        {{ to_float('gpuHours') }} as gpu_hours,
        {{ to_float('gpuRequestAverage') }} as gpu_request_average,
        {{ to_float('gpuUsageAverage') }} as gpu_usage_average,
        {{ to_float('ramBytes') }} as ram_bytes,
        {{ to_float('ramByteHours') }} as ram_byte_hours,
        {{ to_float('ramByteRequestAverage') }} as ram_byte_request_average,
        {{ to_float('ramByteUsageAverage') }} as ram_byte_usage_average,
        {{ to_float('pvBytes') }} as pv_bytes,
        {{ to_float('pvByteHours') }} as pv_byte_hours,
        {{ to_float('networkTransferBytes') }} as network_transfer_bytes,
        {{ to_float('networkReceiveBytes') }} as network_receive_bytes,

        ---------- numerics: costs
        {{ to_float('cpuCost') }} as cpu_cost,
        {{ to_float('cpuCostAdjustment') }} as cpu_cost_adjustment,
        {{ to_float('cpuCostIdle') }} as cpu_cost_idle,
        {{ to_float('gpuCost') }} as gpu_cost,
        {{ to_float('gpuCostAdjustment') }} as gpu_cost_adjustment,
        {{ to_float('gpuCostIdle') }} as gpu_cost_idle,
        {{ to_float('ramCost') }} as ram_cost,
        {{ to_float('ramCostAdjustment') }} as ram_cost_adjustment,
        {{ to_float('ramCostIdle') }} as ram_cost_idle,
        {{ to_float('pvCost') }} as pv_cost,
        {{ to_float('pvCostAdjustment') }} as pv_cost_adjustment,
        {{ to_float('networkCost') }} as network_cost,
        {{ to_float('networkCostAdjustment') }} as network_cost_adjustment,
        {{ to_float('networkCrossZoneCost') }} as network_cross_zone_cost,
        {{ to_float('networkCrossRegionCost') }} as network_cross_region_cost,
        {{ to_float('networkInternetCost') }} as network_internet_cost,
        {{ to_float('loadBalancerCost') }} as load_balancer_cost,
        {{ to_float('loadBalancerCostAdjustment') }} as load_balancer_cost_adjustment,
        {{ to_float('sharedCost') }} as shared_cost,
        {{ to_float('externalCost') }} as external_cost,
        cpu_cost_adjustment + gpu_cost_adjustment + ram_cost_adjustment
            + pv_cost_adjustment + network_cost_adjustment
            + load_balancer_cost_adjustment as adjustment_cost,
        {{ to_float('totalCost') }} as total_cost,

        ---------- numerics: efficiency (null when Kubecost does not report it)
        toFloat64(cpuEfficiency) as cpu_efficiency,
        toFloat64(gpuEfficiency) as gpu_efficiency,
        toFloat64(ramEfficiency) as ram_efficiency,
        toFloat64(totalEfficiency) as total_efficiency,

        ---------- booleans
        ifNull(is_idle, false) as is_idle,
        ifNull(is_unallocated, false) as is_unallocated,
        ifNull(is_unmounted, false) as is_unmounted,

        ---------- timestamps
        start as running_start,
        `end` as running_end,
        _airbyte_extracted_at as extracted_at

    from source

)

select * from renamed
