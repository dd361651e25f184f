"""Ground truth: expected total cost per key and level for any window of days.

Keys are tuples of the level's segments, spelled as in Kubecost names (a missing controller
is ``__unallocated__``, unmounted volumes sit in namespace ``__unmounted__`` on node ``""``):

======================  ===================================================================
level                   key
======================  ===================================================================
``cluster``             ``(cluster,)``
``node``                ``(cluster, node)``
``namespace``           ``(cluster, namespace)``
``controller``          ``(cluster, namespace, controllerKind, controller)``  (raw name)
``pod``                 ``(cluster, namespace, pod)``
``container``           ``(cluster, namespace, pod, container)``
``idle``                ``(cluster, node)``: the idle rows
======================  ===================================================================

Idle policies: ``separate`` (idle only under level ``idle``), ``shared`` (idle folded into
the allocations' cpu/ram/gpu cost per cluster; level ``idle`` keeps what could not be shared,
e.g. GPU idle with no GPU workload), ``none`` (no idle at all).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from kubecost_pipeline.simulator.engine import UNALLOCATED, AllocationQuery, SpanRows
from kubecost_pipeline.simulator.entities import Allocation, Span
from kubecost_pipeline.simulator.model import Fleet
from kubecost_pipeline.simulator.units import TICKS

LEVELS = ("cluster", "node", "namespace", "controller", "pod", "container", "idle")
IDLE_POLICIES = ("separate", "shared", "none")


def level_key(a: Allocation, level: str) -> tuple[str, ...]:
    p = a.props
    c = p["cluster"]
    if level == "cluster":
        return (c,)
    if level in ("node", "idle"):
        return (c, p.get("node", ""))
    if level == "namespace":
        return (c, p["namespace"])
    if level == "controller":
        return (
            c,
            p["namespace"],
            p.get("controllerKind") or UNALLOCATED,
            p.get("controller") or UNALLOCATED,
        )
    if level == "pod":
        return (c, p["namespace"], p["pod"])
    return (c, p["namespace"], p["pod"], p["container"])


def truth(
    fleet: Fleet,
    day_start: date,
    day_end: date | None = None,
    level: str = "namespace",
    idle_policy: str = "separate",
    share_tenancy: bool = True,
    share_namespaces: tuple[str, ...] = (),
    idle_by_node: bool = False,
    reconcile: bool = True,
) -> dict[tuple[str, ...], float]:
    """Total cost per key over the days ``[day_start, day_end)`` (default: one day).

    The options mirror the query parameters that move money: ``share_tenancy``
    (``shareTenancyCosts``; OpenCost never shares), ``share_namespaces``
    (``shareNamespaces``), ``idle_by_node`` (``idleByNode``) and ``reconcile`` (False for
    OpenCost, which has no reconciliation, or ``reconcile=false``).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown truth level {level!r}; choose one of {', '.join(LEVELS)}")
    if idle_policy not in IDLE_POLICIES:
        raise ValueError(
            f"unknown idle_policy {idle_policy!r}; choose one of {', '.join(IDLE_POLICIES)}"
        )
    day_end = day_end or day_start + timedelta(days=1)
    if day_end <= day_start:
        raise ValueError(f"truth window is empty: day_end {day_end} <= day_start {day_start}")
    q = AllocationQuery(
        start=datetime.combine(day_start, time(), UTC),
        end=datetime.combine(day_end, time(), UTC),
        idle=idle_policy == "separate",
        share_idle=idle_policy == "shared",
        idle_by_node=idle_by_node,
        share_tenancy=share_tenancy,
        share_namespaces=frozenset(share_namespaces),
        reconcile=reconcile,
    )
    sums: dict[tuple[str, ...], int] = defaultdict(int)
    d = day_start
    while d < day_end:
        span = fleet.clip(Span(d, 0.0, 24.0, reconcile))
        d += timedelta(days=1)
        if span is None:
            continue
        for a in SpanRows(fleet, span, q):
            if (a.kind == "idle") == (level == "idle"):
                sums[level_key(a, level)] += a.total_ticks
    return {k: t / TICKS for k, t in sorted(sums.items())}
