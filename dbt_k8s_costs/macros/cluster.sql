{#- On a ClickHouse cluster (profile `cluster:`, DBT_CLICKHOUSE_CLUSTER) every table a model
    creates is replicated: dbt-clickhouse runs its DDL `ON CLUSTER`, and this override of
    its `engine_clause` turns a MergeTree-family engine into its Replicated form, with the
    replica path and name from the servers' `default_replica_path` and
    `default_replica_name`. Models name only the family (`MergeTree()`), so the same SQL
    runs on one server, on chDB and on a cluster. Nothing changes with a `Replicated`
    database engine, which replicates MergeTree tables itself (docs/clickhouse-cluster.md). -#}

{% macro engine_clause() %}
  engine = {{ kubecost_replicated_engine(config.get('engine', default='MergeTree()')) }}
{%- endmacro %}

{% macro kubecost_replicated_engine(engine) -%}
  {%- if adapter.should_on_cluster() and engine.startswith(('MergeTree', 'ReplacingMergeTree',
      'SummingMergeTree', 'AggregatingMergeTree', 'CollapsingMergeTree',
      'VersionedCollapsingMergeTree')) -%}
    Replicated{{ engine }}
  {%- else -%}
    {{ engine }}
  {%- endif -%}
{%- endmacro %}
