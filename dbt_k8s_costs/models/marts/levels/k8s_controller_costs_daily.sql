{{ config(materialized='view') }}

{#- One row per date, cluster and controller (macros/levels.sql). -#}

{{ level_costs('controller', {
    'namespace': 'expenses.k8s_namespace',
    'controller_kind': 'efficiency.any_controller_kind',
    'controller': "if(efficiency.any_controller = '', '__unallocated__', efficiency.any_controller)",
    'resource_key': 'expenses.resource_key',
}) }}
