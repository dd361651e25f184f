{{ config(materialized='view') }}

{#- One row per date, cluster and pod (macros/levels.sql). -#}

{{ level_costs('pod', {
    'namespace': 'expenses.k8s_namespace',
    'pod': 'substring(expenses.resource_key, length(expenses.k8s_namespace) + 2)',
    'node': 'expenses.k8s_node',
    'controller_kind': 'efficiency.any_controller_kind',
    'controller': 'efficiency.any_controller',
    'labels': 'efficiency.any_labels',
    'resource_key': 'expenses.resource_key',
}) }}
