"""The fleet: a deterministic model of Kubernetes clusters and what they cost, day by day.

Everything is derived from ``FleetSpec.seed``: the structure (clusters, nodes, namespaces,
controllers; ``structure.py``) is drawn once with ``random.Random(seed)``; everything that
varies per day (pod names, running intervals, usage, adjustments; ``pods.py``,
``allocations.py``) is a pure hash of (seed, entity, day) (``hashing.py``), so any day can be
produced on its own, in any order, as often as needed, without keeping state. Money is
integer ticks (``units.py``), so every level adds up exactly.

``Fleet`` holds the clock and the restatement revisions, and answers for a day: its pods,
allocations, node asset costs and the ground truth.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from kubecost_pipeline.simulator.allocations import cluster_allocations
from kubecost_pipeline.simulator.catalogue import LB_HOURLY, MGMT_HOURLY, PV_GIB_HOURLY
from kubecost_pipeline.simulator.entities import (
    Allocation,
    Cluster,
    Controller,
    NodeDay,
    PodRun,
    Span,
)
from kubecost_pipeline.simulator.hashing import mix, uniform
from kubecost_pipeline.simulator.pods import alive, pod_runs
from kubecost_pipeline.simulator.structure import FleetSpec, Structure
from kubecost_pipeline.simulator.units import (
    CPU_USE_HOURS,
    GIB,
    HOUR,
    RAM_USE_HOURS,
    TICKS,
    epoch,
    to_ticks,
)

# Imported from here by the simulator's users and tests since before the split.
__all__ = [
    "CPU_USE_HOURS",
    "RAM_USE_HOURS",
    "TICKS",
    "Allocation",
    "Fleet",
    "FleetSpec",
    "Span",
]


class Fleet:
    """A deterministic fleet; see the module docstring.

    Args:
        spec: size and seed.
        now: the clock of the model: today's set is partial up to ``now`` and days after it
            have no data. ``None`` follows the wall clock.
    """

    RESTATED_DAYS = 2  # days before today whose adjustments still change (plus today)

    def __init__(self, spec: FleetSpec | None = None, now: datetime | None = None) -> None:
        self.spec = spec or FleetSpec()
        self.structure = Structure(self.spec)
        self.now = now
        self._revisions: dict[date, int] = {}
        self.totals_cache: dict = {}  # engine's per-span pass-1 sums (see engine.SpanRows)
        self.lock = threading.Lock()  # guards revisions and the cache across server threads

    # -- clock and restatement --

    def clock(self) -> datetime:
        if self.now is None:
            return datetime.now(UTC)
        if self.now.tzinfo is None:
            return self.now.replace(tzinfo=UTC)
        return self.now.astimezone(UTC)

    def is_restated(self, day: date) -> bool:
        """Whether ``day``'s adjustments still change between reads (the last two days)."""
        return day >= self.clock().date() - timedelta(days=self.RESTATED_DAYS)

    def revision(self, day: date) -> int:
        return self._revisions.get(day, 0)

    def restate(self, day: date, revision: int | None = None) -> int:
        """Move ``day`` to a newer (or the given) restatement revision; returns it.

        Only days within the restatement window change; older days are final.
        """
        if not self.is_restated(day):
            return self.revision(day)
        with self.lock:
            rev = self.revision(day) + 1 if revision is None else revision
            self._revisions[day] = max(rev, self.revision(day))
            return self._revisions[day]

    def adjustment_factor(self, entity: int, span: Span) -> float:
        """Reconciled minus list price, as a fraction: final after the restatement window;
        inside it, unreconciled (0) at revision 0 and a different value at every revision."""
        if not span.reconcile:
            return 0.0
        o = span.day.toordinal()
        final = -0.08 + 0.1 * uniform(self.spec.seed, entity, o, 11)
        if not self.is_restated(span.day):
            return final
        rev = span.revision
        if rev == 0:
            return 0.0
        return final * (0.4 + 1.2 * uniform(self.spec.seed, entity, o, rev, 12))

    # -- days --

    @property
    def days(self) -> list[date]:
        return [self.spec.start + timedelta(days=i) for i in range(self.spec.days)]

    def day_span(self, day: date) -> Span | None:
        """The part of ``day`` with data (clipped to now), or None."""
        i = (day - self.spec.start).days
        if not 0 <= i < self.spec.days:
            return None
        hi = min(24.0, (self.clock().timestamp() - epoch(day)) / HOUR)
        return Span(day, 0.0, hi, True, self.revision(day)) if hi > 0 else None

    def clip(self, span: Span) -> Span | None:
        """``span`` limited to the data that exists, at the day's current revision."""
        full = self.day_span(span.day)
        if full is None:
            return None
        lo, hi = max(span.lo, full.lo), min(span.hi, full.hi)
        return Span(span.day, lo, hi, span.reconcile, full.revision) if hi > lo else None

    # -- pods --

    def pods(self, ctrl: Controller, day: date) -> list[PodRun]:
        """The pods of a controller running on ``day`` (full-day intervals, unclipped)."""
        return pod_runs(self.spec.seed, self.structure, ctrl, day, (day - self.spec.start).days)

    def pv_name(self, ctrl: Controller, replica: int) -> tuple[str, str]:
        """(volume name, claim name) of a StatefulSet replica's volume."""
        h = mix(self.spec.seed, ctrl.uid, replica, 99)
        u = f"{h:016x}{mix(h):016x}"
        return (
            f"pvc-{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}",
            f"data-{ctrl.name}-{replica}",
        )

    # -- ground truth --

    def truth(
        self,
        day_start: date,
        day_end: date | None = None,
        level: str = "namespace",
        idle_policy: str = "separate",
        **options: object,
    ) -> dict[tuple[str, ...], float]:
        """Expected ``totalCost`` per key over the days ``[day_start, day_end)``.

        See ``kubecost_pipeline.simulator.truth`` for levels, keys and options
        (``share_tenancy``, ``share_namespaces``, ``idle_by_node``).
        """
        from kubecost_pipeline.simulator.truth import truth

        return truth(self, day_start, day_end, level, idle_policy, **options)  # type: ignore[arg-type]

    # -- allocations --

    def allocations(self, day: date) -> Iterator[Allocation]:
        """The container-level allocations of one UTC day (as of now and the current
        restatement revision), followed by one ``__unmounted__`` row per cluster that has
        unmounted volumes or load balancers. No idle, no sharing applied."""
        span = self.day_span(day)
        if span is None:
            return iter(())
        return self.raw(span)

    def raw(self, span: Span, nodes: dict[int, NodeDay] | None = None) -> Iterator[Allocation]:
        """Allocations inside ``span`` (already clipped); if ``nodes`` is given, adds each
        allocation's cpu/ram/gpu ticks to its node's ``alloc``."""
        for cluster in self.structure.clusters:
            yield from cluster_allocations(self, cluster, span, nodes)

    def lb_ticks(self, ctrl: Controller, span: Span) -> int:
        """A controller's load balancer cost over ``span``: it lives as long as the controller."""
        lived = alive(ctrl, (span.day - self.spec.start).days)
        if lived is None:
            return 0
        hours = min(lived[1], span.hi) - max(lived[0], span.lo)
        return to_ticks(LB_HOURLY * hours) if hours > 0 else 0

    def pv_adjustment(self, cost: int, entity: int, span: Span) -> int:
        return round(cost * self.adjustment_factor(entity, span) / 4)

    def lb_ip(self, ctrl: Controller) -> str:
        h = mix(self.spec.seed, ctrl.uid, 77)
        return f"52.{h % 256}.{(h >> 8) % 256}.{(h >> 16) % 256}"

    def pv_ticks(self, size: int, hours: float) -> int:
        return to_ticks(size / GIB * PV_GIB_HOURLY * hours)

    def volume_id(self, name: str) -> str:
        return "vol-0" + name[4:20].replace("-", "")

    # -- assets --

    def node_days(self, span: Span) -> dict[int, NodeDay]:
        """Every node's asset cost over ``span`` (allocated sums still zero)."""
        t0 = epoch(span.day)
        hours = span.hi - span.lo
        out = {}
        for cluster in self.structure.clusters:
            for n in self.structure.nodes[cluster.id]:
                cpu = to_ticks(n.cores * hours * n.cpu_price)
                ram = to_ticks(n.ram_bytes * hours * n.ram_price)
                gpu = to_ticks(n.gpus * hours * n.gpu_price)
                f = self.adjustment_factor(n.uid, span)
                out[n.uid] = NodeDay(
                    n,
                    t0 + span.lo * HOUR,
                    t0 + span.hi * HOUR,
                    cpu,
                    ram,
                    gpu,
                    round((cpu + ram + gpu) * f),
                )
        return out

    def management_ticks(self, cluster: Cluster, span: Span) -> int:
        """The cluster management fee (EKS/GKE/AKS control plane) over ``span``."""
        return to_ticks(MGMT_HOURLY[cluster.provider] * (span.hi - span.lo))
