{{ config(materialized='view') }}

{#- One row per date, cluster and node (macros/levels.sql). -#}

{{ level_costs('node', {'node': 'expenses.resource_key'}) }}
