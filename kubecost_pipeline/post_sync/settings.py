"""Constants of the CloudTuner projection: names, types and SQL that OptScale fixes."""

from __future__ import annotations

import uuid

ENV_PREFIX = "KUBECOST_PIPELINE__"

# Levels projected from the marts, in the order documents are written.
LEVELS = ("cluster", "node", "namespace", "pod")
# Mongo `resource_type`: "K8s Pod" is OptScale's own native type (rightsizing and metroculus read
# it); the other three are custom types, which OptScale's resource_observer never touches.
RESOURCE_TYPES = {
    "cluster": "K8s Cluster",
    "node": "K8s Node",
    "namespace": "K8s Namespace",
    "pod": "K8s Pod",
}
# Kubecost's pseudo rows that reach the pod level (by pod or namespace name): they carry real
# money (unmounted volumes) but are not pods, so they are not OptScale's `K8s Pod`.
PSEUDO_TYPES = {
    "__unmounted__": "K8s Unmounted Volumes",
    "__unallocated__": "K8s Unallocated",
    "__idle__": "K8s Idle",
}
# The hook's own data on every document it writes; also how it finds its documents.
OWN_FIELD = "kubecost"
# Top-level fields the CloudTuner design's queries read (its "Query Patterns").
DESIGN_FIELDS = ("cpu_cost", "ram_cost", "pv_cost", "cpu_efficiency", "ram_efficiency", "saving")
# uuid5 namespace of the hook's cloud_resource_ids (documents.cloud_resource_id).
ID_NAMESPACE = uuid.UUID("5d3c2a6e-6f1b-4c59-9f0e-6b7c1e2a9d41")
# MySQL discovery_info.resource_type enum member per level (upstream has only k8s_pod).
DISCOVERY_TYPES = {
    "cluster": "k8s_cluster",
    "node": "k8s_node",
    "namespace": "k8s_namespace",
    "pod": "k8s_pod",
}
DEFAULT_EXPENSE_LEVELS = ("pod",)

DEFAULT_MARTS_DATABASE = "kubecost_marts"
DEFAULT_MONGODB_DATABASE = "restapi"
DEFAULT_EXPENSES_DATABASE = "default"
RESOURCES_COLLECTION = "resources"

DEFAULT_BATCH_SIZE = 2_000  # Mongo operations per bulk_write
DEFAULT_CHUNK_ROWS = 250_000  # expense rows per read/diff/insert chunk (bounds memory)
MONGO_CURSOR_BATCH = 10_000  # documents per Mongo getMore
LOCK_PREFIX = "kubecost-hook:"  # + cloud account id; MySQL lock names are at most 64 chars
LAST_ERROR_MAX = 255  # discovery_info.last_error, as OptScale's worker truncates it
COST_TOLERANCE = 1e-9  # two costs closer than this are the same money

# ---- marts (docs/marts.md) -------------------------------------------------------------------

RESOURCE_COLUMNS = (
    "level",
    "resource_key",
    "resource_name",
    "k8s_namespace",
    "k8s_node",
    "k8s_service",
    "first_seen_date",
    "last_seen_date",
    "first_seen_at",
    "last_seen_at",
    "total_cost",
    "cpu_cost",
    "gpu_cost",
    "ram_cost",
    "pv_cost",
    "network_cost",
    "load_balancer_cost",
    "shared_cost",
    "idle_cost",
    "last_day_cost",
    "cpu_efficiency",
    "ram_efficiency",
    "total_efficiency",
    "labels",
    "instance_type",
    "zone",
    "region",
    "capacity_cpu_cores",
    "capacity_ram_bytes",
    "is_spot",
    "controller_kind",
    "controller",
    "containers",
    "recommended_cpu_cores",
    "recommended_ram_bytes",
    "monthly_saving",
)
EXPENSE_COLUMNS = (
    "date",
    "cluster",
    "level",
    "resource_key",
    "k8s_namespace",
    "k8s_node",
    "k8s_service",
    "total_cost",
)
REQUIRED_MART_COLUMNS = {
    "k8s_resources": ("cluster", *RESOURCE_COLUMNS),
    "k8s_expenses_daily": EXPENSE_COLUMNS,
}

MART_COLUMNS_SQL = """
SELECT table, name FROM system.columns
WHERE database = {db:String} AND table IN ('k8s_resources', 'k8s_expenses_daily')
"""
CLUSTERS_SQL = """
SELECT cluster, max(last_seen_date), count()
FROM {db:Identifier}.k8s_resources
GROUP BY cluster
"""
RESOURCES_SQL = """
SELECT level, resource_key, resource_name, k8s_namespace, k8s_node, k8s_service,
       first_seen_date, last_seen_date,
       ifNull(toUnixTimestamp(first_seen_at), 0), ifNull(toUnixTimestamp(last_seen_at), 0),
       total_cost, cpu_cost, gpu_cost, ram_cost, pv_cost, network_cost, load_balancer_cost,
       shared_cost, idle_cost, last_day_cost, cpu_efficiency, ram_efficiency, total_efficiency,
       labels, instance_type, zone, region, capacity_cpu_cores, capacity_ram_bytes, is_spot,
       controller_kind, controller, containers,
       recommended_cpu_cores, recommended_ram_bytes, monthly_saving
FROM {db:Identifier}.k8s_resources
WHERE cluster = {cluster:String} AND level IN ('cluster', 'node', 'namespace', 'pod')
"""
EXPENSE_DAYS_SQL = """
SELECT date, count()
FROM {db:Identifier}.k8s_expenses_daily
WHERE cluster = {cluster:String} AND level IN {levels:Array(String)}
GROUP BY date
ORDER BY date
"""
# A Date is days since 1970-01-01, so date * 86400 is its UTC midnight in unix seconds. The
# mart's key is (date, cluster, level, resource_key): any() picks the row's only value.
EXPENSE_ROWS_SQL = """
SELECT level, resource_key, toUInt32(date) * 86400, sum(total_cost)
FROM {db:Identifier}.k8s_expenses_daily
WHERE cluster = {cluster:String} AND level IN {levels:Array(String)}
  AND date BETWEEN {lo:Date} AND {hi:Date}
GROUP BY level, resource_key, date
"""
# The same with the row's k8s values, for CloudTuner's `expenses` (read only for it: three
# string columns of millions of rows).
EXPENSE_K8S_ROWS_SQL = """
SELECT level, resource_key, toUInt32(date) * 86400, sum(total_cost),
       any(k8s_namespace), any(k8s_node), any(k8s_service)
FROM {db:Identifier}.k8s_expenses_daily
WHERE cluster = {cluster:String} AND level IN {levels:Array(String)}
  AND date BETWEEN {lo:Date} AND {hi:Date}
GROUP BY level, resource_key, date
"""

# ---- CloudTuner ClickHouse `expenses` (OptScale diworker 202111031530000) ---------------------

EXPENSES_TABLE = "expenses"
EXPENSES_SCHEMA = (
    ("cloud_account_id", "String"),
    ("resource_id", "String"),
    ("date", "DateTime"),
    ("cost", "Float64"),
    ("sign", "Int8"),
)
# CloudTuner's deployments add these to `expenses` (its Phase 3 guide); the hook fills them.
EXPENSES_K8S_COLUMNS = (
    ("k8s_namespace", "Nullable(String)"),
    ("k8s_node", "Nullable(String)"),
    ("k8s_service", "Nullable(String)"),
)
EXPENSES_ENGINE = "CollapsingMergeTree"
EXPENSES_SORTING_KEY = "cloud_account_id, date, resource_id"
EXPENSES_PARTITION_KEY = "toYYYYMM(date)"
EXPENSES_DDL = """
CREATE TABLE {db:Identifier}.expenses (
    cloud_account_id String,
    resource_id String,
    date DateTime,
    cost Float64,
    sign Int8
) ENGINE = CollapsingMergeTree(sign)
PARTITION BY toYYYYMM(date)
ORDER BY (cloud_account_id, date, resource_id)
"""
EXPENSES_TABLE_SQL = """
SELECT engine, sorting_key, partition_key FROM system.tables
WHERE database = {db:String} AND name = 'expenses'
"""
EXPENSES_COLUMNS_SQL = """
SELECT name, type FROM system.columns
WHERE database = {db:String} AND table = 'expenses'
ORDER BY position
"""
# The live (resource, day) rows and their net cost. Dates travel as unix seconds both ways: a
# DateTime column is epoch seconds, whatever the server's or the client's time zone. A day
# whose rows net to sign 0 counts as absent, as in diworker.
EXISTING_EXPENSES_SQL = """
SELECT resource_id, toUnixTimestamp(date), sum(cost * sign)
FROM {db:Identifier}.expenses
WHERE cloud_account_id = {account:String}
  AND date BETWEEN toDateTime({lo:UInt32}) AND toDateTime({hi:UInt32})
GROUP BY resource_id, date
HAVING sum(sign) != 0
"""
# The same on CloudTuner's table: a day's rows per k8s value, which corrections cancel apiece.
EXISTING_K8S_EXPENSES_SQL = """
SELECT resource_id, toUnixTimestamp(date), sum(cost * sign),
       k8s_namespace, k8s_node, k8s_service
FROM {db:Identifier}.expenses
WHERE cloud_account_id = {account:String}
  AND date BETWEEN toDateTime({lo:UInt32}) AND toDateTime({hi:UInt32})
GROUP BY resource_id, date, k8s_namespace, k8s_node, k8s_service
HAVING sum(sign) != 0
"""
# diworker's `get_common_resource_expense_info` per resource of an account: the sum of all its
# expenses, its newest day (over every row, as diworker's max(date)) and that day's cost.
EXPENSE_TOTALS_SQL = """
SELECT resource_id, sum(net), toUnixTimestamp(max(date)), argMax(net, date)
FROM (
    SELECT resource_id, date, sum(cost * sign) AS net
    FROM {db:Identifier}.expenses
    WHERE cloud_account_id = {account:String}
    GROUP BY resource_id, date
)
GROUP BY resource_id
"""

# ---- CloudTuner MySQL (OptScale rest_api models) ----------------------------------------------

DISCOVERY_ENUM_SQL = """
SELECT COLUMN_TYPE FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'discovery_info' AND COLUMN_NAME = 'resource_type'
"""
