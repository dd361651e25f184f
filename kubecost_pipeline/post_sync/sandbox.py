"""Empty CloudTuner stores and synthetic marts, for tests, benchmarks and laptop demos.

Nothing here runs in production: CloudTuner's own migrations own its tables and indexes. The
marts written here follow docs/marts.md column for column, so the hook cannot tell them from
dbt's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources as package_files
from typing import Any

# ---- MySQL -------------------------------------------------------------------------------------


def create_mysql_tables(conn: Any, k8s_types_migration: bool = False) -> None:
    """OptScale's organization, employee, pool, cloudaccount and discovery_info tables."""
    files = package_files.files("kubecost_pipeline.post_sync")
    scripts = [files.joinpath("sql/optscale_mysql.sql").read_text()]
    if k8s_types_migration:
        scripts.append(files.joinpath("migrations/0001_discovery_info_k8s_types.sql").read_text())
    with conn.cursor() as cur:
        for script in scripts:
            for statement in _statements(script):
                cur.execute(statement)


def _statements(script: str) -> Iterator[str]:
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    yield from (s.strip() for s in code.split(";") if s.strip())


@dataclass(frozen=True)
class Organization:
    id: str
    pool_id: str
    employee_id: str
    account_ids: tuple[str, ...]


def seed_organization(conn: Any, accounts: int = 1, auto_import: bool = False) -> Organization:
    """An organization with a root pool, its default owner and `accounts` kubernetes_cnr
    cloud accounts, written as OptScale writes them (every NOT NULL column)."""
    org, pool, employee = (str(uuid.uuid4()) for _ in range(3))
    account_ids = tuple(str(uuid.uuid4()) for _ in range(accounts))
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO organization VALUES (%s, 1700000000, 0, 'Kubecost demo', NULL, 0, "
            "'USD', 0, 0)",
            (org,),
        )
        cur.execute(
            "INSERT INTO employee VALUES (%s, 1700000000, 0, 'Default owner', %s, NULL)",
            (employee, org),
        )
        cur.execute(
            "INSERT INTO pool VALUES (%s, 1700000000, 0, 0, 'Kubecost demo', %s, NULL, "
            "'BUSINESS_UNIT', %s)",
            (pool, org, employee),
        )
        cur.execute("UPDATE organization SET pool_id = %s WHERE id = %s", (pool, org))
        for n, account in enumerate(account_ids):
            cur.execute(
                "INSERT INTO cloudaccount VALUES (%s, 1700000000, 0, %s, 'KUBERNETES_CNR', "
                "'<encrypted>', %s, NULL, %s, 1, 0, 0, %s, 1, 0, NULL, 0, 0, NULL, 0, NULL)",
                (account, f"k8s-{n}", org, int(auto_import), str(uuid.uuid4())),
            )
    return Organization(org, pool, employee, account_ids)


# ---- MongoDB -----------------------------------------------------------------------------------

OPTSCALE_INDEXES: tuple[tuple[str, list[tuple[str, int]], dict[str, Any]], ...] = (
    (
        "OptResourceUnique",
        [
            ("cloud_resource_id", 1),
            ("cloud_resource_hash", 1),
            ("cloud_account_id", 1),
            ("organization_id", 1),
            ("deleted_at", 1),
        ],
        {"unique": True},
    ),
    ("CloudResourceHash", [("cloud_resource_hash", 1)], {}),
    ("CloudAccountID", [("cloud_account_id", 1)], {}),
    ("EmlpoyeeID", [("employee_id", 1)], {}),
    ("CloudResourceID", [("cloud_resource_id", 1)], {}),
    ("PoolID", [("pool_id", 1)], {}),
    ("CloudResourceActive", [("active", 1)], {}),
    (
        "CloudAccIdResTypeActiveIndex",
        [("cloud_account_id", 1), ("resource_type", 1), ("active", 1)],
        {},
    ),
    (
        "SearchCloudAccountDates2",
        [
            ("cloud_account_id", 1),
            ("_last_seen_date", 1),
            ("_first_seen_date", 1),
            ("organization_id", 1),
        ],
        {},
    ),
    ("SearchPoolDates", [("pool_id", 1), ("_last_seen_date", 1), ("_first_seen_date", 1)], {}),
)


def create_mongo_indexes(collection: Any, unique_only: bool = False) -> None:
    """OptScale's indexes on `restapi.resources` (contract section 3.3)."""
    for name, keys, options in OPTSCALE_INDEXES:
        if unique_only and not options.get("unique"):
            continue
        collection.create_index(keys, name=name, **options)


def mongomock_client() -> Any:
    """A mongomock client whose bulk_write accepts pymongo >= 4.11 operations.

    pymongo 4.11 passes `sort` to `add_update` (mongomock issue 912); the shim accepts it and
    refuses a non-None value, which mongomock could not honour.
    """
    import mongomock
    from mongomock import collection as mongomock_collection

    bulk = mongomock_collection.BulkOperationBuilder
    if not getattr(bulk.add_update, "_sort_shim", False):
        original = bulk.add_update

        def add_update(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
            if sort is not None:
                raise NotImplementedError("mongomock cannot sort an update")
            return original(self, *args, **kwargs)

        add_update._sort_shim = True  # type: ignore[attr-defined]
        setattr(bulk, "add_update", add_update)  # noqa: B010 (a method, patched once)
    return mongomock.MongoClient(tz_aware=False)


# ---- marts -------------------------------------------------------------------------------------

RESOURCES_DDL = """
CREATE TABLE {db:Identifier}.k8s_resources (
    cluster String, level String, resource_key String, resource_name String,
    k8s_namespace String, k8s_node String, k8s_service String,
    first_seen_date Date, last_seen_date Date, first_seen_at DateTime, last_seen_at DateTime,
    total_cost Float64, cpu_cost Float64, gpu_cost Float64, ram_cost Float64, pv_cost Float64,
    network_cost Float64, load_balancer_cost Float64, shared_cost Float64, idle_cost Float64,
    last_day_cost Float64, cpu_efficiency Float64, ram_efficiency Float64,
    total_efficiency Float64, labels Map(String, String),
    instance_type String, zone String, region String, capacity_cpu_cores Float64,
    capacity_ram_bytes Float64, is_spot Bool,
    controller_kind String, controller String, containers String,
    recommended_cpu_cores Float64, recommended_ram_bytes Float64, monthly_saving Float64
) ENGINE = MergeTree ORDER BY (cluster, level, resource_key)
"""
EXPENSES_DAILY_DDL = """
CREATE TABLE {db:Identifier}.k8s_expenses_daily (
    date Date, cluster String, level String, resource_key String,
    k8s_namespace String, k8s_node String, k8s_service String,
    cpu_cost Float64, gpu_cost Float64, ram_cost Float64, pv_cost Float64, network_cost Float64,
    load_balancer_cost Float64, shared_cost Float64, external_cost Float64,
    adjustment_cost Float64, total_cost Float64, idle_cost Float64, total_cost_with_idle Float64
) ENGINE = MergeTree ORDER BY (date, cluster, level, resource_key)
"""
RESOURCE_INSERT = (
    "cluster", "level", "resource_key", "resource_name", "k8s_namespace", "k8s_node",
    "k8s_service", "first_seen_date", "last_seen_date", "first_seen_at", "last_seen_at",
    "total_cost", "cpu_cost", "ram_cost", "idle_cost", "last_day_cost", "cpu_efficiency",
    "ram_efficiency", "total_efficiency", "labels", "instance_type", "zone", "region",
    "capacity_cpu_cores", "capacity_ram_bytes", "is_spot", "controller_kind", "controller",
    "containers", "recommended_cpu_cores", "recommended_ram_bytes", "monthly_saving",
)  # fmt: skip
EXPENSE_INSERT = (
    "date", "cluster", "level", "resource_key", "k8s_namespace", "k8s_node", "k8s_service",
    "cpu_cost", "ram_cost", "total_cost", "idle_cost", "total_cost_with_idle",
)  # fmt: skip


@dataclass
class Pod:
    namespace: str
    name: str
    node: str
    days: list[date]
    cost: float  # per day; cpu 60 %, ram 40 %
    service: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Cluster:
    """A synthetic cluster: pods on nodes; namespaces, nodes and the cluster roll up from them.

    Each node carries `node_idle` a day of idle cost, which appears on node and cluster rows
    (`idle_cost`) and never in `total_cost`, as in the marts.
    """

    name: str
    pods: list[Pod] = field(default_factory=list)
    node_idle: float = 0.5
    overrides: dict[tuple[str, date], float] = field(default_factory=dict)  # restated pod days

    def pod_cost(self, pod: Pod, day: date) -> float:
        return self.overrides.get((pod.key, day), pod.cost)


def synthetic_cluster(
    name: str, start: date, days: int, pods: int, nodes: int = 3, namespaces: int = 4
) -> Cluster:
    """`pods` pods that all run every day from `start` for `days` days (deterministic)."""
    span = [start + timedelta(days=i) for i in range(days)]
    return Cluster(
        name,
        [
            Pod(
                namespace=f"ns-{i % namespaces}",
                name=f"app-{i}-{i * 7919 % 100000:05d}",
                node=f"{name}-node-{i % nodes}",
                days=list(span),
                cost=round(0.01 + (i % 97) * 0.0137, 6),
                service=f"svc-{i % 10}",
            )
            for i in range(pods)
        ],
    )


def create_marts(client: Any, db: str) -> None:
    client.command("CREATE DATABASE IF NOT EXISTS {db:Identifier}", parameters={"db": db})
    for table, ddl in (
        ("k8s_resources", RESOURCES_DDL),
        ("k8s_expenses_daily", EXPENSES_DAILY_DDL),
    ):
        client.command(
            "DROP TABLE IF EXISTS {db:Identifier}.{t:Identifier}", parameters={"db": db, "t": table}
        )
        client.command(ddl, parameters={"db": db})


def write_marts(client: Any, db: str, clusters: Sequence[Cluster], batch: int = 200_000) -> None:
    """(Re)create both marts in `db` and fill them from `clusters`, as dbt would build them."""
    create_marts(client, db)
    for cluster in clusters:
        _insert(client, db, "k8s_expenses_daily", EXPENSE_INSERT, _expense_rows(cluster), batch)
        _insert(client, db, "k8s_resources", RESOURCE_INSERT, _resource_rows(cluster), batch)


def _insert(
    client: Any, db: str, table: str, columns: Sequence[str], rows: Iterable[tuple], batch: int
) -> None:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            client.insert(table, chunk, database=db, column_names=list(columns))
            chunk = []
    if chunk:
        client.insert(table, chunk, database=db, column_names=list(columns))


def _levels(pod: Pod, cluster: str) -> list[tuple[str, str, str, str]]:
    """(level, resource_key, k8s_namespace, k8s_node) of everything a pod's cost rolls into."""
    return [
        ("cluster", cluster, "", ""),
        ("node", pod.node or "__unallocated__", "", pod.node),
        ("namespace", pod.namespace, pod.namespace, ""),
        ("pod", pod.key, pod.namespace, pod.node),
    ]


def _daily(cluster: Cluster) -> dict[tuple[str, str, date], list[Any]]:
    """(level, key, day) -> [namespace, node, service, cost, idle]."""
    totals: dict[tuple[str, str, date], list[Any]] = {}
    for pod in cluster.pods:
        for day in pod.days:
            cost = cluster.pod_cost(pod, day)
            for level, key, ns, node in _levels(pod, cluster.name):
                entry = totals.setdefault(
                    (level, key, day), [ns, node, pod.service if level == "pod" else "", 0.0, 0.0]
                )
                entry[3] += cost
    for (level, _key, _day), entry in totals.items():
        if level == "node":
            entry[4] = cluster.node_idle
    for level, _key, day in list(totals):
        if level == "node":
            totals[("cluster", cluster.name, day)][4] += cluster.node_idle
    return totals


def _expense_rows(cluster: Cluster) -> Iterator[tuple]:
    for (level, key, day), (ns, node, service, cost, idle) in sorted(_daily(cluster).items()):
        yield (day, cluster.name, level, key, ns, node, service, cost * 0.6, cost * 0.4, cost,
               idle, cost + idle)  # fmt: skip


def _resource_rows(cluster: Cluster) -> Iterator[tuple]:
    spans: dict[tuple[str, str], list[Any]] = {}
    for (level, key, day), (ns, node, service, cost, idle) in _daily(cluster).items():
        s = spans.setdefault((level, key), [ns, node, service, day, day, 0.0, 0.0, 0.0])
        s[3], s[4] = min(s[3], day), max(s[4], day)
        s[5] += cost
        s[6] += idle
        if day == s[4]:
            s[7] = cost
    pods = {pod.key: pod for pod in cluster.pods}
    for (level, key), (ns, node, service, first, last, total, idle, last_cost) in sorted(
        spans.items()
    ):
        pod = pods.get(key) if level == "pod" else None
        labels = {"app": pod.name.rsplit("-", 1)[0], "app.kubernetes.io/part-of": ns} if pod else {}
        containers = (
            [{"name": "main", "cpu_request_cores": 0.25, "ram_request_bytes": 268435456.0,
              "cpu_usage_cores": 0.1, "ram_usage_bytes": 134217728.0}]
            if pod else []
        )  # fmt: skip
        yield (
            cluster.name, level, key, key.rsplit("/", 1)[-1], ns, node, service, first, last,
            _at(first, 8), _at(last, 20), total, total * 0.6, total * 0.4, idle, last_cost,
            0.4, 0.5, 0.45, labels,
            "m5.large" if level == "node" else "", "eu-west-1a" if level == "node" else "",
            "eu-west-1" if level in ("node", "pod") else "", 2.0 if level == "node" else 0.0,
            8.0 * 2**30 if level == "node" else 0.0, False,
            "deployment" if pod else "", pod.name.rsplit("-", 1)[0] if pod else "",
            json.dumps(containers), 0.1 if pod else 0.0, 134217728.0 if pod else 0.0,
            round(total * 0.3, 6),
        )  # fmt: skip


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
