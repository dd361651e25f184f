"""Write the harness seeds: landing tables as Airbyte's ClickHouse destination fills them.

A two-cluster, three-day fleet small enough to check by hand. Day 3 was synced twice (the
re-read restated its adjustments and no longer has the kube-proxy pod, so the whole
kube-system namespace vanished) and day 2 twice (unchanged), so staging must take each
day's latest reading and nothing else. Every reading is stamped as the connector stamps it
(`extraction_id`, `extraction_records`). ``expected_expenses.csv`` and
``expected_costs.csv`` are the ground truth the integrity tests compare the marts with,
written here from the same values the readings were built from.

    python dbt_k8s_costs/integration_tests/generate_seeds.py
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from pathlib import Path

SEEDS = Path(__file__).parent / "seeds"
DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
FIRST_SYNC = datetime(2026, 11, 4, 1, 0, 0)
RE_READ = datetime(2026, 11, 5, 1, 0, 0)

# fmt: off
# cluster, node, namespace, controller kind, controller, pod, container, service,
# cpu cores requested, cpu cores used, ram bytes requested, ram bytes used, daily base cost
CONTAINERS = [
    ("prod-eu", "node-a", "payments", "deployment", "api", "api-7d9c-abcde", "api",
     "api-svc", 1.0, 0.25, 2 * 2**30, 2**30, 2.0),
    ("prod-eu", "node-a", "payments", "deployment", "api", "api-7d9c-abcde", "istio-proxy",
     "api-svc", 0.1, 0.05, 2**28, 2**27, 0.2),
    ("prod-eu", "node-b", "payments", "deployment", "api", "api-7d9c-fghij", "api",
     "api-svc", 1.0, 0.8, 2 * 2**30, 2**30, 1.0),
    ("prod-eu", "node-b", "kube-system", "daemonset", "kube-proxy", "kube-proxy-x1",
     "kube-proxy", "", 0.1, 0.02, 2**27, 2**26, 0.1),
    ("dev-us", "node-c", "web", "statefulset", "web", "web-0", "nginx",
     "web-svc", 0.5, 0.1, 2**30, 2**28, 0.5),
]
NODES = {  # node: (cluster, instance type, zone, cores, ram bytes, spot, idle per day)
    "node-a": ("prod-eu", "m5.xlarge", "eu-west-1a", 4, 16 * 2**30, False, 1.5),
    "node-b": ("prod-eu", "m5.large", "eu-west-1b", 2, 8 * 2**30, True, 0.5),
    "node-c": ("dev-us", "t3.large", "us-east-1a", 2, 8 * 2**30, False, 0.25),
}
UNMOUNTED_PV_COST = 0.3  # prod-eu, every day

ALLOCATION_NUMBERS = [
    "minutes", "cpuCores", "cpuCoreHours", "cpuCoreRequestAverage", "cpuCoreUsageAverage",
    "cpuCost", "cpuCostAdjustment", "cpuCostIdle", "cpuEfficiency", "gpuCount", "gpuHours",
    "gpuRequestAverage", "gpuUsageAverage", "gpuCost", "gpuCostAdjustment", "gpuCostIdle",
    "gpuEfficiency", "ramBytes", "ramByteHours", "ramByteRequestAverage",
    "ramByteUsageAverage", "ramCost", "ramCostAdjustment", "ramCostIdle", "ramEfficiency",
    "pvBytes", "pvByteHours", "pvCost", "pvCostAdjustment", "networkTransferBytes",
    "networkReceiveBytes", "networkCost", "networkCostAdjustment", "networkCrossZoneCost",
    "networkCrossRegionCost", "networkInternetCost", "loadBalancerCost",
    "loadBalancerCostAdjustment", "sharedCost", "externalCost", "totalCost", "totalEfficiency",
]
ALLOCATION_COLUMNS = {
    "window_start": "DateTime64(3)", "window_end": "Nullable(DateTime64(3))", "name": "String",
    "granularity": "String", "aggregate": "Nullable(String)", "idle_policy": "String",
    "query_settings": "Nullable(String)", "extraction_id": "Nullable(String)",
    "extraction_records": "Nullable(Int64)", "is_idle": "Nullable(Bool)",
    "is_unallocated": "Nullable(Bool)", "is_unmounted": "Nullable(Bool)",
    "start": "Nullable(DateTime64(3))", "end": "Nullable(DateTime64(3))",
    **{c: "Nullable(String)" for c in (
        "cluster", "node", "namespace", "controllerKind", "controller", "pod", "container",
        "providerID", "services", "labels", "annotations", "namespaceLabels",
        "namespaceAnnotations")},
    **{c: "Nullable(Decimal(38, 9))" for c in ALLOCATION_NUMBERS},
    **{c: "Nullable(String)" for c in (
        "pvs", "lbAllocations", "rawAllocationOnly", "sharedCostBreakdown",
        "proportionalAssetResourceCosts")},
}
ASSET_COLUMNS = {
    "window_start": "DateTime64(3)", "window_end": "Nullable(DateTime64(3))", "key": "String",
    "extraction_id": "Nullable(String)", "extraction_records": "Nullable(Int64)",
    **{c: "Nullable(String)" for c in (
        "type", "category", "provider", "account", "project", "service", "cluster", "name",
        "providerID", "labels")},
    "start": "Nullable(DateTime64(3))", "end": "Nullable(DateTime64(3))",
    **{c: "Nullable(Decimal(38, 9))" for c in (
        "minutes", "adjustment", "totalCost")},
    "nodeType": "Nullable(String)", "pool": "Nullable(String)",
    **{c: "Nullable(Decimal(38, 9))" for c in (
        "cpuCores", "ramBytes", "cpuCoreHours", "ramByteHours", "GPUHours", "gpuCount",
        "cpuCost", "gpuCost", "ramCost", "discount", "preemptible")},
    **{c: "Nullable(String)" for c in ("cpuBreakdown", "ramBreakdown", "overhead")},
    **{c: "Nullable(Decimal(38, 9))" for c in (
        "bytes", "byteHours", "byteHoursUsed", "byteUsageMax")},
    **{c: "Nullable(String)" for c in (
        "storageClass", "volumeName", "claimName", "claimNamespace", "breakdown")},
    "private": "Nullable(Bool)", "ip": "Nullable(String)",
    "credit": "Nullable(Decimal(38, 9))", "cost": "Nullable(Decimal(38, 9))",
}
CLUSTER_COLUMNS = {
    "id": "String",
    **{c: "Nullable(String)" for c in (
        "name", "provider", "account", "project", "region", "provisioner", "profile",
        "version", "currency")},
}
META_COLUMNS = {
    "_airbyte_raw_id": "String", "_airbyte_extracted_at": "DateTime64(3)",
    "_airbyte_meta": "String", "_airbyte_generation_id": "UInt32",
}
# fmt: on


def _ts(value: date | datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if isinstance(value, datetime) else f"{value} 00:00:00"


def _vanished(day_index: int, extracted: datetime, pod: str) -> bool:
    """Day 3's re-read no longer has the kube-proxy pod (nor so the kube-system namespace)."""
    return day_index == 2 and extracted == RE_READ and pod == "kube-proxy-x1"


def _extraction_id(day: date, extracted: datetime) -> str:
    """The connector's stamp: the reading's start, then a suffix (here the day)."""
    return f"{extracted:%Y-%m-%dT%H:%M:%S}.000000Z-{day:%Y%m%d}"


def _adjustment(day_index: int, extracted: datetime) -> float:
    """Day 3's re-read restated the cpu adjustment: the marts must show only the new one."""
    if day_index == 2:
        return 0.04 if extracted == RE_READ else -0.02
    return 0.01


class Rows:
    def __init__(self, columns: dict[str, str]):
        self.columns = {**META_COLUMNS, **columns}
        self.rows: list[dict[str, object]] = []

    def add(self, extracted: datetime, **values: object) -> None:
        row: dict[str, object] = {c: "" for c in self.columns}
        row.update(
            _airbyte_raw_id=f"{len(self.rows):08d}-0000-4000-8000-000000000000",
            _airbyte_extracted_at=_ts(extracted),
            _airbyte_meta='{"sync_id":1,"changes":[]}',
            _airbyte_generation_id=0,
        )
        row.update(values)
        self.rows.append(row)

    def count_extractions(self) -> None:
        """`extraction_records` of every row: the rows of its reading."""
        counts: dict[object, int] = {}
        for row in self.rows:
            counts[row["extraction_id"]] = counts.get(row["extraction_id"], 0) + 1
        for row in self.rows:
            row["extraction_records"] = counts[row["extraction_id"]]

    def write(self, name: str) -> None:
        if "extraction_id" in self.columns:
            self.count_extractions()
        with (SEEDS / f"{name}.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.columns), lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)


def main() -> None:
    allocations = Rows(ALLOCATION_COLUMNS)
    assets = Rows(ASSET_COLUMNS)
    expected: dict[tuple[str, str, str, str], list[float]] = {}
    expected_costs: dict[tuple[str, str], float] = {}

    def expect(day: date, cluster: str, level: str, key: str, cost: float, idle: float) -> None:
        totals = expected.setdefault((str(day), cluster, level, key), [0.0, 0.0])
        totals[0] += cost
        totals[1] += idle

    for i, day in enumerate(DAYS):
        syncs = [FIRST_SYNC] + ([RE_READ] if i >= 1 else [])
        for extracted in syncs:
            latest = extracted == syncs[-1]
            window = {
                "window_start": _ts(day),
                "window_end": _ts(day + timedelta(days=1)),
                "granularity": "container",
                "idle_policy": "separate",
                "aggregate": "cluster,node,namespace,controllerKind,controller,pod,container",
                "query_settings": '{"idle":true,"shareIdle":false,"idleByNode":true}',
                "start": _ts(day),
                "end": _ts(day + timedelta(days=1)),
                "minutes": 1440,
                "extraction_id": _extraction_id(day, extracted),
            }
            allocated_on_node: dict[str, float] = {}
            for (
                cluster,
                node,
                ns,
                kind,
                ctrl,
                pod,
                container,
                svc,
                cpu_req,
                cpu_use,
                ram_req,
                ram_use,
                base,
            ) in CONTAINERS:
                if _vanished(i, extracted, pod):
                    continue
                scale = 1 + i / 10
                cpu, ram, net = 0.6 * base * scale, 0.3 * base * scale, 0.1 * base
                adj = _adjustment(i, extracted)
                total = cpu + ram + net + adj
                allocated_on_node[node] = allocated_on_node.get(node, 0) + cpu + ram
                allocations.add(
                    extracted,
                    **window,
                    name=f"{cluster}/{node}/{ns}/{pod}/{container}",
                    cluster=cluster,
                    node=node,
                    namespace=ns,
                    controllerKind=kind,
                    controller=ctrl,
                    pod=pod,
                    container=container,
                    providerID=f"i-{node}",
                    services=json.dumps([svc] if svc else []),
                    labels=json.dumps({"app": ctrl, "team": ns}),
                    namespaceLabels=json.dumps({"kubernetes_io_metadata_name": ns}),
                    is_idle=False,
                    is_unallocated=False,
                    is_unmounted=False,
                    cpuCoreRequestAverage=cpu_req,
                    cpuCoreUsageAverage=cpu_use,
                    cpuCores=cpu_req,
                    cpuCoreHours=cpu_req * 24,
                    ramByteRequestAverage=ram_req,
                    ramByteUsageAverage=ram_use,
                    ramBytes=ram_req,
                    ramByteHours=ram_req * 24,
                    cpuCost=round(cpu, 9),
                    cpuCostAdjustment=adj,
                    ramCost=round(ram, 9),
                    networkCost=round(net, 9),
                    totalCost=round(total, 9),
                    cpuEfficiency=round(cpu_use / cpu_req, 9),
                    ramEfficiency=round(ram_use / ram_req, 9),
                )
                if latest:
                    expected_costs[str(day), f"{cluster}/{node}/{ns}/{pod}/{container}"] = total
                    for (
                        level,
                        key,
                    ) in (
                        ("cluster", cluster),
                        ("node", node),
                        ("namespace", ns),
                        ("controller", f"{ns}/{kind}:{ctrl}"),
                        ("service", f"{ns}/{svc or '__unallocated__'}"),
                        ("pod", f"{ns}/{pod}"),
                    ):
                        expect(day, cluster, level, key, total, 0.0)
            pv = UNMOUNTED_PV_COST
            allocations.add(
                extracted,
                **window,
                name="prod-eu/__unmounted__/__unmounted__/__unmounted__/__unmounted__",
                cluster="prod-eu",
                node="__unmounted__",
                namespace="__unmounted__",
                pod="__unmounted__",
                container="__unmounted__",
                is_idle=False,
                is_unallocated=False,
                is_unmounted=True,
                pvCost=pv,
                totalCost=pv,
            )
            if latest:
                expected_costs[
                    str(day), "prod-eu/__unmounted__/__unmounted__/__unmounted__/__unmounted__"
                ] = pv
                for level, key in (
                    ("cluster", "prod-eu"),
                    ("node", "__unmounted__"),
                    ("namespace", "__unmounted__"),
                    ("controller", "__unmounted__/__unallocated__"),
                    ("service", "__unmounted__/__unallocated__"),
                    ("pod", "__unmounted__/__unmounted__"),
                ):
                    expect(day, "prod-eu", level, key, pv, 0.0)
            for node, (cluster, itype, zone, cores, ram_bytes, spot, idle) in NODES.items():
                allocations.add(
                    extracted,
                    **window,
                    name=f"{cluster}/{node}/__idle__",
                    cluster=cluster,
                    node=node,
                    providerID=f"i-{node}",
                    is_idle=True,
                    is_unallocated=False,
                    is_unmounted=False,
                    cpuCost=idle * 0.7,
                    ramCost=idle * 0.3,
                    totalCost=idle,
                )
                node_cost = allocated_on_node[node] + idle
                assets.add(
                    extracted,
                    window_start=window["window_start"],
                    window_end=window["window_end"],
                    key=f"aws/1234/prod/Compute/{cluster}/Node/Kubernetes/i-{node}/{node}",
                    extraction_id=window["extraction_id"],
                    type="Node",
                    category="Compute",
                    provider="aws",
                    account="1234",
                    project="prod",
                    service="Kubernetes",
                    cluster=cluster,
                    name=node,
                    providerID=f"i-{node}",
                    labels=json.dumps(
                        {
                            "label_topology_kubernetes_io_zone": zone,
                            "label_topology_kubernetes_io_region": zone[:-1],
                            "node_kubernetes_io_instance_type": itype,
                        }
                    ),
                    start=window["start"],
                    end=window["end"],
                    minutes=1440,
                    nodeType=itype,
                    cpuCores=cores,
                    ramBytes=ram_bytes,
                    cpuCoreHours=cores * 24,
                    ramByteHours=ram_bytes * 24,
                    cpuCost=round(node_cost * 0.7, 9),
                    ramCost=round(node_cost * 0.3, 9),
                    discount=0,
                    preemptible=1 if spot else 0,
                    adjustment=0.05,
                    totalCost=round(node_cost + 0.05, 9),
                )
                if latest:
                    expected_costs[str(day), f"{cluster}/{node}/__idle__"] = idle
                    expect(day, cluster, "cluster", cluster, 0.0, idle)
                    expect(day, cluster, "node", node, 0.0, idle)
                    expect(day, cluster, "idle", node, 0.0, idle)
    clusters = Rows(CLUSTER_COLUMNS)
    for cid, region in (("prod-eu", "eu-west-1"), ("dev-us", "us-east-1")):
        clusters.add(
            RE_READ,
            id=cid,
            name=cid,
            provider="AWS",
            account="1234",
            project="prod",
            region=region,
            provisioner="EKS",
            version="1.29+",  # clusterInfo: the Kubernetes version, not Kubecost's
            currency="USD",
        )

    allocations.write("allocations_data")
    assets.write("assets_data")
    clusters.write("clusters_data")
    with (SEEDS / "expected_expenses.csv").open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["date", "cluster", "level", "resource_key", "total_cost", "idle_cost"])
        for (day_s, cluster, level, key), (cost, idle) in sorted(expected.items()):
            writer.writerow([day_s, cluster, level, key, round(cost, 9), round(idle, 9)])
    with (SEEDS / "expected_costs.csv").open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["date", "allocation_name", "total_cost"])
        for (day_s, name), cost in sorted(expected_costs.items()):
            writer.writerow([day_s, name, round(cost, 9)])
    write_seed_config()


def write_seed_config() -> None:
    def block(name: str, columns: dict[str, str], engine: str, order_by: str) -> str:
        types = "".join(f"        {c}: {t}\n" for c, t in {**META_COLUMNS, **columns}.items())
        return (
            f"  - name: {name}\n    config:\n      engine: {engine}\n"
            f"      order_by: {order_by}\n      column_types:\n{types}"
        )

    text = (
        "# Generated by generate_seeds.py: the landing tables' exact destination-v2 types.\n"
        "# MergeTree, not ReplacingMergeTree: the seeds keep every reading, as an unmerged\n"
        "# landing table does, so staging's choice of each day's reading is exercised.\n"
        "version: 2\n\nseeds:\n"
        + block(
            "allocations_data",
            ALLOCATION_COLUMNS,
            "MergeTree()",
            "(window_start, granularity, idle_policy, name)",
        )
        + block("assets_data", ASSET_COLUMNS, "MergeTree()", "(window_start, key)")
        + block("clusters_data", CLUSTER_COLUMNS, "MergeTree()", "(_airbyte_raw_id)")
        + "  - name: expected_expenses\n    config:\n      column_types:\n"
        "        date: Date\n        cluster: String\n        level: String\n"
        "        resource_key: String\n        total_cost: Float64\n        idle_cost: Float64\n"
        "  - name: expected_costs\n    config:\n      column_types:\n"
        "        date: Date\n        allocation_name: String\n        total_cost: Float64\n"
    )
    (SEEDS / "_seeds.yml").write_text(text)


if __name__ == "__main__":
    main()
