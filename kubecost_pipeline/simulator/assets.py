"""Assets of the fleet over a window: nodes, disks, load balancers, cluster management.

Each asset's cost is computed with the same tick arithmetic as the allocations, so a node's
``cpuCost`` is exactly its containers' ``cpuCost`` plus the idle row's, and a volume's cost
is exactly the ``pvCost`` of the pod (or ``__unmounted__`` row) that holds it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from kubecost_pipeline.simulator.catalogue import LB_HOURLY, STORAGE_CLASS
from kubecost_pipeline.simulator.entities import Cluster, Span
from kubecost_pipeline.simulator.hashing import mix, uniform
from kubecost_pipeline.simulator.model import Fleet
from kubecost_pipeline.simulator.units import HOUR, epoch, to_ticks

UNDEFINED = "__undefined__"
KEY_PARTS = (
    "provider",
    "account",
    "project",
    "category",
    "cluster",
    "type",
    "service",
    "providerID",
    "name",
)
SUMMED = (
    "minutes",
    "cpuCoreHours",
    "ramByteHours",
    "GPUHours",
    "byteHours",
    "byteHoursUsed",
    "hours",
)


@dataclass(slots=True)
class Asset:
    """One asset over a window; costs in ticks, quantities as floats."""

    type: str
    props: dict
    labels: dict
    start: float
    end: float
    cost: int  # before adjustment (Node: cpu + ram + gpu)
    adjustment: int = 0
    ticks: dict[str, int] = field(default_factory=dict)  # Node: cpuCost, ramCost, gpuCost
    nums: dict[str, float] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # strings and flags

    @property
    def key(self) -> str:
        p = {**self.props, "type": self.type}
        return "/".join(p.get(k) or UNDEFINED for k in KEY_PARTS)

    @property
    def total_ticks(self) -> int:
        return self.cost + self.adjustment

    def merge(self, other: Asset) -> None:
        self.start, self.end = min(self.start, other.start), max(self.end, other.end)
        self.cost += other.cost
        self.adjustment += other.adjustment
        for k, t in other.ticks.items():
            self.ticks[k] = self.ticks.get(k, 0) + t
        for k, x in other.nums.items():
            if k in SUMMED:
                self.nums[k] = self.nums.get(k, 0.0) + x
            else:
                self.nums[k] = max(self.nums.get(k, 0.0), x)


def _props(cluster: Cluster, category: str, name: str, provider_id: str) -> dict:
    return {
        "category": category,
        "provider": cluster.provider,
        "account": cluster.account,
        "project": cluster.project,
        "service": "Kubernetes",
        "cluster": cluster.id,
        "name": name,
        "providerID": provider_id,
    }


def span_assets(fleet: Fleet, span: Span) -> Iterator[Asset]:
    """Every asset alive inside ``span`` (already clipped)."""
    seed = fleet.spec.seed
    t0 = epoch(span.day)
    w0, w1 = t0 + span.lo * HOUR, t0 + span.hi * HOUR
    hours = span.hi - span.lo
    o = span.day.toordinal()
    for uid, nd in fleet.node_days(span).items():
        n = nd.node
        minutes = hours * 60
        cpu_busy = 0.2 + 0.5 * uniform(seed, uid, o, 21)
        ram_busy = 0.3 + 0.5 * uniform(seed, uid, o, 22)
        yield Asset(
            "Node",
            _props(n.cluster, "Compute", n.name, n.provider_id),
            dict(n.labels),
            w0,
            w1,
            nd.cpu + nd.ram + nd.gpu,
            nd.adjustment,
            {"cpuCost": nd.cpu, "ramCost": nd.ram, "gpuCost": nd.gpu},
            {
                "minutes": minutes,
                "cpuCores": float(n.cores),
                "ramBytes": float(n.ram_bytes),
                "cpuCoreHours": n.cores * hours,
                "ramByteHours": n.ram_bytes * hours,
                "GPUHours": n.gpus * hours,
                "gpuCount": float(n.gpus),
                "preemptible": 1.0 if n.spot else 0.0,
                "discount": 0.0,
                "cpuIdle": 1 - cpu_busy,
                "ramIdle": 1 - ram_busy,
            },
            {"nodeType": n.instance_type, "pool": n.pool},
        )
    for cluster in fleet.structure.clusters:
        yield from _cluster_assets(fleet, cluster, span, w0, w1)


def _cluster_assets(fleet: Fleet, cluster: Cluster, span: Span, w0: float, w1: float):
    t0 = epoch(span.day)
    hours = span.hi - span.lo
    for ctrl in fleet.structure.controllers[cluster.id]:
        if ctrl.kind == "statefulset":
            for run in fleet.pods(ctrl, span.day):
                s, e = max(run.start, span.lo), min(run.end, span.hi)
                if e <= s:
                    continue
                name, claim = fleet.pv_name(ctrl, run.replica)
                cost = fleet.pv_ticks(ctrl.pv_bytes, e - s)
                yield _disk(
                    fleet,
                    cluster,
                    name,
                    claim,
                    ctrl.namespace.name,
                    ctrl.pv_bytes,
                    t0 + s * HOUR,
                    t0 + e * HOUR,
                    cost,
                    fleet.pv_adjustment(cost, ctrl.uid + run.replica, span),
                )
        if ctrl.load_balancer:
            cost = fleet.lb_ticks(ctrl, span)
            if cost:
                yield _lb(
                    cluster,
                    ctrl.namespace.name,
                    ctrl.service or ctrl.name,
                    fleet.lb_ip(ctrl),
                    w0,
                    w1,
                    cost,
                )
    for vol in fleet.structure.volumes[cluster.id]:
        cost = fleet.pv_ticks(vol.bytes, hours)
        yield _disk(fleet, cluster, vol.name, vol.claim, vol.namespace, vol.bytes, w0, w1, cost, 0)
    for ns, svc, ip in fleet.structure.orphan_lbs[cluster.id]:
        yield _lb(cluster, ns, svc, ip, w0, w1, to_ticks(LB_HOURLY * hours))
    yield Asset(
        "ClusterManagement",
        _props(cluster, "Management", "", ""),
        {},
        w0,
        w1,
        fleet.management_ticks(cluster, span),
        nums={"minutes": hours * 60},
    )


def _disk(
    fleet: Fleet,
    cluster: Cluster,
    name: str,
    claim: str,
    namespace: str,
    size: int,
    start: float,
    end: float,
    cost: int,
    adjustment: int,
) -> Asset:
    hours = (end - start) / HOUR
    used = 0.2 + 0.6 * uniform(mix(fleet.spec.seed, zlib.crc32(name.encode())))
    return Asset(
        "Disk",
        _props(cluster, "Storage", name, fleet.volume_id(name)),
        {},
        start,
        end,
        cost,
        adjustment,
        {},
        {
            "minutes": hours * 60,
            "bytes": float(size),
            "byteHours": size * hours,
            "byteHoursUsed": size * used * hours,
            "byteUsageMax": size * min(1.0, used * 1.1),
            "idle": 1 - used,
        },
        {
            "storageClass": STORAGE_CLASS[cluster.provider],
            "volumeName": name,
            "claimName": claim,
            "claimNamespace": namespace,
        },
    )


def _lb(cluster: Cluster, ns: str, svc: str, ip: str, start: float, end: float, cost: int):
    return Asset(
        "LoadBalancer",
        _props(cluster, "Network", f"{ns}/{svc}", ip),
        {},
        start,
        end,
        cost,
        0,
        {},
        {"minutes": (end - start) / 60, "hours": (end - start) / HOUR},
        {"private": False, "ip": ip},
    )
