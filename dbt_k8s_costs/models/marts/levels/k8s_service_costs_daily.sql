{{ config(materialized='view') }}

{#- One row per date, cluster and service (macros/levels.sql). -#}

{{ level_costs('service', {
    'namespace': 'expenses.k8s_namespace',
    'service': "if(expenses.k8s_service = '', '__unallocated__', expenses.k8s_service)",
    'resource_key': 'expenses.resource_key',
}) }}
