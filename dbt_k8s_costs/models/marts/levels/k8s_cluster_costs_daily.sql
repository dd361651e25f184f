{{ config(materialized='view') }}

{#- One row per date and cluster (macros/levels.sql). -#}

{{ level_costs('cluster', {}) }}
