{{ config(materialized='view') }}

{#- One row per date, cluster and namespace (macros/levels.sql). -#}

{{ level_costs('namespace', {'namespace': 'expenses.resource_key'}) }}
