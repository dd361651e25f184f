"""A cluster's container allocations over a span of a day.

Each running pod's containers get usage (a hash of pod, container and day, never above a
limit), an allocation of max(request, usage), its cost at the node's prices, the day's
reconciliation adjustment and network egress; a StatefulSet's first container carries its
volume, a load-balanced Deployment's first container its share of the load balancer. Last
comes one ``__unmounted__`` row per cluster for volumes and load balancers no pod uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kubecost_pipeline.simulator.catalogue import EGRESS_PER_GB, LB_HOURLY
from kubecost_pipeline.simulator.entities import (
    Allocation,
    Cluster,
    ContainerSpec,
    Controller,
    Node,
    NodeDay,
    PodRun,
    Span,
)
from kubecost_pipeline.simulator.hashing import uniform3
from kubecost_pipeline.simulator.units import (
    CPU,
    CPU_ADJ,
    CPU_HOURS,
    CPU_REQ_HOURS,
    CPU_USE_HOURS,
    GPU,
    GPU_ADJ,
    GPU_HOURS,
    GPU_REQ_HOURS,
    GPU_USE_HOURS,
    HOUR,
    LB,
    NET,
    NET_INTERNET,
    NET_REGION,
    NET_RX,
    NET_TX,
    NET_ZONE,
    PV,
    PV_ADJ,
    PV_HOURS,
    RAM,
    RAM_ADJ,
    RAM_HOURS,
    RAM_REQ_HOURS,
    RAM_USE_HOURS,
    Spread,
    epoch,
    new_vector,
    to_ticks,
)

if TYPE_CHECKING:
    from kubecost_pipeline.simulator.model import Fleet

Run = tuple[PodRun, float, float]  # a pod and its hours inside the span


def cluster_allocations(
    fleet: Fleet, cluster: Cluster, span: Span, nodes: dict[int, NodeDay] | None
) -> Iterator[Allocation]:
    """Allocations of ``cluster`` inside ``span``; with ``nodes``, each container's cpu, ram
    and gpu ticks and hours are added to its node's ``alloc`` and ``alloc_hours``."""
    seed, o, t0 = fleet.spec.seed, span.day.toordinal(), epoch(span.day)
    factors: dict[int, float] = {}  # adjustment factor per node
    for ctrl in fleet.structure.controllers[cluster.id]:
        runs = _inside(fleet.pods(ctrl, span.day), span)
        if not runs:
            continue
        lb_share = None
        if ctrl.load_balancer:
            seconds = sum(round((e - s) * 3600) for _, s, e in runs)
            lb_share = Spread(fleet.lb_ticks(ctrl, span), seconds)
        for run, s, e in runs:
            node = run.node
            factor = factors.get(node.uid)
            if factor is None:
                factor = factors[node.uid] = fleet.adjustment_factor(node.uid, span)
            pod = _pod_properties(cluster, ctrl, run)
            labels = _pod_labels(ctrl, run)
            for ci, cs in enumerate(ctrl.containers):
                u1, u2, u3 = uniform3(seed, run.key, ci, o)
                cpu_use, ram_use = _usage(cs, u1, u2)
                a = Allocation(
                    _container_properties(pod, ctrl, cs, node, labels),
                    t0 + s * HOUR,
                    t0 + e * HOUR,
                    _costs(cs, node, e - s, cpu_use, ram_use, factor, u1, u3),
                    raw=(
                        min(cpu_use * (1.1 + 0.3 * u2), cs.cpu_limit or math.inf),
                        min(ram_use * (1.05 + 0.2 * u1), cs.ram_limit or math.inf),
                    ),
                )
                if ci == 0 and ctrl.pv_bytes:
                    _attach_volume(fleet, a, ctrl, run, e - s, span)
                if ci == 0 and lb_share is not None:
                    _attach_load_balancer(fleet, a, ctrl, lb_share, e - s)
                if nodes is not None:
                    _charge(nodes[node.uid], a.v)
                yield a
    unmounted = unmounted_allocation(fleet, cluster, span)
    if unmounted is not None:
        yield unmounted


def _inside(runs: list[PodRun], span: Span) -> list[Run]:
    clipped = [(r, max(r.start, span.lo), min(r.end, span.hi)) for r in runs]
    return [c for c in clipped if c[2] > c[1]]


def _pod_properties(cluster: Cluster, ctrl: Controller, run: PodRun) -> dict:
    """Kubecost's properties of a pod, in Kubecost's order; a CronJob's pods belong to that
    run's Job."""
    props: dict = {"cluster": cluster.id, "node": run.node.name, "namespace": ctrl.namespace.name}
    if ctrl.kind:
        props["controllerKind"] = ctrl.kind
        props["controller"] = run.name[:-6] if ctrl.kind == "job" else ctrl.name
    props["pod"] = run.name
    return props


def _pod_labels(ctrl: Controller, run: PodRun) -> dict[str, str]:
    labels = {**run.node.labels, **ctrl.namespace.labels, **ctrl.labels}
    if ctrl.kind == "deployment":
        labels["pod_template_hash"] = run.name.rsplit("-", 2)[-2]
    return labels


def _container_properties(
    pod: dict, ctrl: Controller, cs: ContainerSpec, node: Node, labels: dict[str, str]
) -> dict:
    props = dict(pod)
    props["container"] = cs.name
    if ctrl.service:
        props["services"] = [ctrl.service]
    props["providerID"] = node.provider_id
    props["labels"] = labels
    props["namespaceLabels"] = ctrl.namespace.labels
    return props


def _usage(cs: ContainerSpec, u1: float, u2: float) -> tuple[float, float]:
    """(cores, bytes) used: around the typical load of the request, capped by the limit.
    A container without a request is charged for what it uses."""
    cpu_use = (cs.cpu or 0.2) * cs.load * (0.5 + u1)
    ram_use = (cs.ram or 256 << 20) * min(1.3, cs.load * (0.6 + 0.8 * u2))
    if cs.cpu_limit:
        cpu_use = min(cpu_use, cs.cpu_limit)
    if cs.ram_limit:
        ram_use = min(ram_use, cs.ram_limit)
    return cpu_use, ram_use


def _costs(
    cs: ContainerSpec,
    node: Node,
    hours: float,
    cpu_use: float,
    ram_use: float,
    factor: float,
    u1: float,
    u3: float,
) -> list:
    """The container's ``Allocation.v``: max(request, usage) at the node's prices, the
    reconciliation adjustment, GPU on a GPU node, and network egress split by destination."""
    cpu_alloc = max(cs.cpu, cpu_use)
    ram_alloc = max(cs.ram, ram_use)
    v = new_vector()
    v[CPU_HOURS] = cpu_alloc * hours
    v[CPU_REQ_HOURS] = cs.cpu * hours
    v[CPU_USE_HOURS] = cpu_use * hours
    v[RAM_HOURS] = ram_alloc * hours
    v[RAM_REQ_HOURS] = cs.ram * hours
    v[RAM_USE_HOURS] = ram_use * hours
    v[CPU] = cpu = to_ticks(v[CPU_HOURS] * node.cpu_price)
    v[RAM] = ram = to_ticks(v[RAM_HOURS] * node.ram_price)
    v[CPU_ADJ] = round(cpu * factor)
    v[RAM_ADJ] = round(ram * factor)
    if cs.gpu and node.gpus:
        v[GPU_HOURS] = v[GPU_REQ_HOURS] = cs.gpu * hours
        v[GPU_USE_HOURS] = cs.gpu * hours * (0.3 + 0.6 * u3)
        v[GPU] = to_ticks(v[GPU_HOURS] * node.gpu_price)
        v[GPU_ADJ] = round(v[GPU] * factor)
    tx = hours * 3.6e6 * (cs.cpu + 0.05) * (1 + 20 * u3)
    v[NET_TX], v[NET_RX] = tx, tx * (0.5 + u1)
    v[NET] = net = to_ticks(tx / 1e9 * EGRESS_PER_GB)
    v[NET_ZONE] = zone = net * 6 // 10
    v[NET_REGION] = region = net // 10
    v[NET_INTERNET] = net - zone - region
    return v


def _attach_volume(
    fleet: Fleet, a: Allocation, ctrl: Controller, run: PodRun, hours: float, span: Span
) -> None:
    """A StatefulSet replica's volume, on its first container."""
    name, _ = fleet.pv_name(ctrl, run.replica)
    cost = fleet.pv_ticks(ctrl.pv_bytes, hours)
    adj = fleet.pv_adjustment(cost, ctrl.uid + run.replica, span)
    a.v[PV], a.v[PV_ADJ] = cost, adj
    a.v[PV_HOURS] = ctrl.pv_bytes * hours
    cluster = ctrl.namespace.cluster
    a.pvs = {
        f"cluster={cluster.id}:name={name}": {
            "byteHours": ctrl.pv_bytes * hours,
            "cost": cost,
            "providerID": fleet.volume_id(name),
            "adjustment": adj,
        }
    }


def _attach_load_balancer(
    fleet: Fleet, a: Allocation, ctrl: Controller, share: Spread, hours: float
) -> None:
    """A pod's share (by seconds running) of its Deployment's load balancer."""
    cost = share.take(round(hours * 3600))
    a.v[LB] = cost
    ns = ctrl.namespace
    a.lbs = {
        f"{ns.cluster.id}/{ns.name}/{ctrl.service}": {
            "service": f"{ns.name}/{ctrl.service}",
            "cost": cost,
            "private": False,
            "ip": fleet.lb_ip(ctrl),
            "hours": hours,
        }
    }


def _charge(node_day: NodeDay, v: list) -> None:
    node_day.alloc[0] += v[CPU]
    node_day.alloc[1] += v[RAM]
    node_day.alloc[2] += v[GPU]
    node_day.alloc_hours[0] += v[CPU_HOURS]
    node_day.alloc_hours[1] += v[RAM_HOURS]
    node_day.alloc_hours[2] += v[GPU_HOURS]


def unmounted_allocation(fleet: Fleet, cluster: Cluster, span: Span) -> Allocation | None:
    """The cluster's ``__unmounted__`` row: volumes no pod mounts, load balancers no
    controller owns; None when it has neither."""
    vols = fleet.structure.volumes[cluster.id]
    lbs = fleet.structure.orphan_lbs[cluster.id]
    if not vols and not lbs:
        return None
    t0 = epoch(span.day)
    hours = span.hi - span.lo
    v = new_vector()
    pvs = {}
    for vol in vols:
        cost = fleet.pv_ticks(vol.bytes, hours)
        v[PV] += cost
        v[PV_HOURS] += vol.bytes * hours
        pvs[f"cluster={cluster.id}:name={vol.name}"] = {
            "byteHours": vol.bytes * hours,
            "cost": cost,
            "providerID": fleet.volume_id(vol.name),
            "adjustment": 0,
        }
    lb_map = {}
    for ns, svc, ip in lbs:
        cost = to_ticks(LB_HOURLY * hours)
        v[LB] += cost
        lb_map[f"{cluster.id}/{ns}/{svc}"] = {
            "service": f"{ns}/{svc}",
            "cost": cost,
            "private": False,
            "ip": ip,
            "hours": hours,
        }
    props = {
        "cluster": cluster.id,
        "namespace": "__unmounted__",
        "pod": "__unmounted__",
        "container": "__unmounted__",
    }
    start, end = t0 + span.lo * HOUR, t0 + span.hi * HOUR
    return Allocation(props, start, end, v, pvs or None, lb_map or None, kind="unmounted")
