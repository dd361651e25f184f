"""Allocation queries over a Fleet: idle, sharing, filters, aggregation, sets and paging.

Rows are produced per day piece (``Span``) in a fixed order, so a query can run over the same
rows more than once: a first pass sums what sharing needs (node allocations, cluster
weights), the last pass applies the shares with exact cumulative rounding and yields rows.
Nothing here holds more than one row at a time unless the query aggregates or pages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kubecost_pipeline.simulator.entities import Allocation, NodeDay, Span
from kubecost_pipeline.simulator.filters import Predicate
from kubecost_pipeline.simulator.model import Fleet
from kubecost_pipeline.simulator.units import (
    CPU,
    CPU_HOURS,
    CPU_IDLE,
    GPU,
    GPU_HOURS,
    GPU_IDLE,
    N_TICKS,
    RAM,
    RAM_HOURS,
    RAM_IDLE,
    SHARED,
    Spread,
    new_vector,
    total_ticks,
)

UNALLOCATED = "__unallocated__"
IDLE = "__idle__"
LABEL_ALIASES = {
    "department": "department",
    "environment": "env",
    "owner": "owner",
    "product": "app",
    "team": "team",
}
CONTAINER_KEY = ("cluster", "node", "namespace", "pod", "container")
UNIQUE_KEY = {"cluster", "namespace", "pod", "container"}  # one container per day
RESOURCES = (
    (CPU, CPU_IDLE, CPU_HOURS, 0),
    (RAM, RAM_IDLE, RAM_HOURS, 1),
    (GPU, GPU_IDLE, GPU_HOURS, 2),
)


@dataclass(frozen=True)
class AllocationQuery:
    """What one ``/allocation`` request asks for, already validated.

    ``aggregate`` None means Kubecost's container key ``cluster/node/namespace/pod/container``.
    ``step`` None means one set over the whole window.
    """

    start: datetime
    end: datetime
    step: timedelta | None = None
    aggregate: tuple[str, ...] | None = None
    idle: bool = True
    share_idle: bool = False
    split_idle: bool = False
    idle_by_node: bool = False
    share_tenancy: bool = True
    share_namespaces: frozenset[str] = frozenset()
    filter: Predicate | None = field(default=None, compare=False)
    reconcile: bool = True
    legacy_labels: bool = False  # label:<k> keys as "k=v" (Kubecost before 1.100)


def day_spans(start: datetime, end: datetime, reconcile: bool = True) -> Iterator[Span]:
    """Split ``[start, end)`` into pieces of UTC days."""
    t = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while t < end:
        midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
        stop = min(end, midnight + timedelta(days=1))
        lo = (t - midnight).total_seconds() / 3600
        hi = (stop - midnight).total_seconds() / 3600
        yield Span(midnight.date(), lo, hi, reconcile)
        t = stop


def set_windows(q: AllocationQuery) -> list[tuple[datetime, datetime]]:
    """The sets of a query; like OpenCost, the last step is not clamped to the window end."""
    if q.step is None:
        return [(q.start, q.end)]
    out: list[tuple[datetime, datetime]] = []
    t = q.start
    while t < q.end and len(out) < 10_000:
        out.append((t, t + q.step))
        t += q.step
    return out


def key_part(a: Allocation, prop: str, legacy_labels: bool = False) -> str:
    """One segment of an aggregation name (opencost ``GenerateKey``)."""
    p = a.props
    if prop in ("cluster", "node", "namespace", "pod", "container", "providerID"):
        return p.get(prop, "")
    if prop == "controllerKind":
        return p.get("controllerKind") or UNALLOCATED
    if prop == "controller":
        kind = p.get("controllerKind")
        return f"{kind}:{p['controller']}" if kind else UNALLOCATED
    if prop in ("deployment", "statefulset", "daemonset", "job"):
        return p["controller"] if p.get("controllerKind") == prop else UNALLOCATED
    if prop == "service":
        services = p.get("services")
        return services[0] if services else UNALLOCATED
    if prop.startswith("label:") or prop in LABEL_ALIASES:
        key = prop[6:] if prop.startswith("label:") else LABEL_ALIASES[prop]
        value = (p.get("labels") or {}).get(key)
        if value is None:
            return UNALLOCATED
        return f"{key}={value}" if legacy_labels and prop.startswith("label:") else value
    return UNALLOCATED  # annotation:<k>: the simulator emits no annotations


def row_name(a: Allocation, aggregate: tuple[str, ...] | None, legacy: bool = False) -> str:
    return "/".join(key_part(a, p, legacy) for p in (aggregate or CONTAINER_KEY))


@dataclass
class _Totals:
    """What pass 1 learns about a day piece."""

    nodes: dict[int, NodeDay]
    weights: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    cluster_weight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    kept_weight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    shared_ns_total: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class SpanRows:
    """The rows of one day piece for one query: allocations (sharing applied) then idle."""

    def __init__(self, fleet: Fleet, span: Span, q: AllocationQuery) -> None:
        self.fleet, self.span, self.q = fleet, span, q

    def _domain(self, a: Allocation, node_uid: int | None) -> str:
        return f"{a.props['cluster']}/{node_uid}" if self.q.idle_by_node else a.props["cluster"]

    def _node_of(self, a: Allocation, by_name: dict[tuple[str, str], int]) -> int | None:
        return by_name.get((a.props["cluster"], a.props.get("node", "")))

    def _totals(self) -> _Totals:
        t = _Totals(self.fleet.node_days(self.span))
        by_name = {(nd.node.cluster.id, nd.node.name): uid for uid, nd in t.nodes.items()}
        for a in self.fleet.raw(self.span, t.nodes):
            cluster = a.props["cluster"]
            w = t.weights[self._domain(a, self._node_of(a, by_name))]
            w[0] += a.v[CPU]
            w[1] += a.v[RAM]
            w[2] += a.v[GPU]
            pre = total_ticks(a.v)
            t.cluster_weight[cluster] += pre
            if a.props["namespace"] not in self.q.share_namespaces:
                t.kept_weight[cluster] += pre
        return t

    def _idle_amounts(self, t: _Totals) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for uid, nd in t.nodes.items():
            dom = f"{nd.node.cluster.id}/{uid}" if self.q.idle_by_node else nd.node.cluster.id
            for i, (amount, alloc) in enumerate(
                zip((nd.cpu, nd.ram, nd.gpu), nd.alloc, strict=True)
            ):
                out[dom][i] += amount - alloc
        return out

    def _shared(self, t: _Totals) -> Iterator[Allocation]:
        """Pass over raw rows applying idle and tenancy shares (namespace sharing excluded)."""
        q, fleet = self.q, self.fleet
        idle = self._idle_amounts(t) if q.share_idle else {}
        spreads: dict[tuple[str, int], Spread] = {}
        tenancy = (
            {
                c.id: Spread(fleet.management_ticks(c, self.span), t.cluster_weight[c.id])
                for c in fleet.structure.clusters
            }
            if q.share_tenancy
            else {}
        )
        by_name = {(nd.node.cluster.id, nd.node.name): uid for uid, nd in t.nodes.items()}
        for a in fleet.raw(self.span):
            pre = total_ticks(a.v)
            if q.share_idle:
                dom = self._domain(a, self._node_of(a, by_name))
                for res, res_idle, _, i in RESOURCES:
                    sp = spreads.get((dom, i))
                    if sp is None:
                        sp = spreads[(dom, i)] = Spread(idle[dom][i], t.weights[dom][i])
                    share = sp.take(a.v[res])
                    a.v[res] += share
                    a.v[res_idle] = share
            if q.share_tenancy:
                a.v[SHARED] += tenancy[a.props["cluster"]].take(pre)
            yield a

    def _cached_totals(self) -> _Totals:
        """Pass 1 (and the shared-namespace pass), remembered per day piece and sharing
        options: reading a day at several granularities costs one pass each after the first."""
        q = self.q
        key = (self.span, q.idle_by_node, q.share_idle, q.share_tenancy, q.share_namespaces)
        cache = self.fleet.totals_cache
        t = cache.get(key)
        if t is None:
            t = self._totals()
            if q.share_namespaces:
                for a in self._shared(t):
                    if a.props["namespace"] in q.share_namespaces:
                        t.shared_ns_total[a.props["cluster"]] += total_ticks(a.v)
            with self.fleet.lock:
                while len(cache) >= 32:
                    cache.pop(next(iter(cache)))
                cache[key] = t
        return t

    def __iter__(self) -> Iterator[Allocation]:
        q = self.q
        rows: Iterable[Allocation]
        t: _Totals | None = None
        if q.share_idle or q.share_tenancy or q.share_namespaces:
            t = self._cached_totals()
            rows = self._shared(t)
        elif q.idle:  # one pass: node sums gather on the way, idle rows come last
            t = _Totals(self.fleet.node_days(self.span))
            rows = self.fleet.raw(self.span, t.nodes)
        else:
            rows = self.fleet.raw(self.span)
        ns_spread = (
            {c: Spread(t.shared_ns_total[c], t.kept_weight[c]) for c in t.shared_ns_total}
            if t is not None and q.share_namespaces
            else {}
        )
        for a in rows:
            if q.share_namespaces:
                if a.props["namespace"] in q.share_namespaces:
                    continue
                sp = ns_spread.get(a.props["cluster"])
                if sp is not None:
                    # the weight is the row's pre-share total, as pass 1 summed it
                    pre = total_ticks(a.v) - a.v[SHARED] - sum(a.v[r[1]] for r in RESOURCES)
                    a.v[SHARED] += sp.take(pre)
            if q.filter is None or q.filter(a.props):
                yield a
        if t is not None and (q.idle or q.share_idle):
            yield from self._idle_rows(t)

    def _idle_rows(self, t: _Totals) -> Iterator[Allocation]:
        q = self.q
        for uid, nd in t.nodes.items():
            node = nd.node
            v = new_vector()
            capacity = (node.cores, node.ram_bytes, node.gpus)
            dom = f"{node.cluster.id}/{uid}" if q.idle_by_node else node.cluster.id
            for (res, _, hours_i, i), amount in zip(
                RESOURCES, (nd.cpu, nd.ram, nd.gpu), strict=True
            ):
                if q.share_idle and t.weights[dom][i] > 0:
                    continue  # this resource's idle was shared out
                v[res] = amount - nd.alloc[i]
                v[hours_i] = capacity[i] * nd.hours - nd.alloc_hours[i]
            if not any(v[:N_TICKS]):
                continue
            props = {"cluster": node.cluster.id, "node": node.name, "providerID": node.provider_id}
            if q.filter is not None and not q.filter(props):
                continue
            yield Allocation(props, nd.start, nd.end, v, kind="idle")


def idle_name(a: Allocation, q: AllocationQuery) -> str:
    if not q.split_idle:
        return IDLE
    if q.idle_by_node:
        return f"{a.props['cluster']}/{a.props['node']}/{IDLE}"
    return f"{a.props['cluster']}/{IDLE}"


def named_rows(
    fleet: Fleet, start: datetime, end: datetime, q: AllocationQuery, reconcile: bool
) -> Iterator[tuple[str, Allocation]]:
    """(name, row) pairs of one set, unmerged: names repeat when rows should merge."""
    for span in day_spans(start, end, reconcile):
        clipped = fleet.clip(span)
        if clipped is None:
            continue
        for a in SpanRows(fleet, clipped, q):
            if a.kind == "idle":
                yield idle_name(a, q), a
            else:
                yield row_name(a, q.aggregate, q.legacy_labels), a


def merge_props(a: dict, b: dict) -> dict:
    """Properties common to both rows (Kubecost drops what differs)."""
    out = {}
    for k, va in a.items():
        vb = b.get(k)
        if va == vb:
            out[k] = va
        elif isinstance(va, dict) and isinstance(vb, dict):
            common = {x: y for x, y in va.items() if vb.get(x) == y}
            if common:
                out[k] = common
    return out


def merge_into(acc: Allocation, a: Allocation) -> None:
    acc.v = [x + y for x, y in zip(acc.v, a.v, strict=True)]
    acc.start = min(acc.start, a.start)
    acc.end = max(acc.end, a.end)
    acc.props = merge_props(acc.props, a.props)
    if acc.raw and a.raw:
        acc.raw = (max(acc.raw[0], a.raw[0]), max(acc.raw[1], a.raw[1]))
    else:
        acc.raw = acc.raw or a.raw
    for attr in ("pvs", "lbs"):
        extra = getattr(a, attr)
        if extra:
            mine = dict(getattr(acc, attr) or {})
            for k, item in extra.items():
                if k in mine:
                    merged = dict(mine[k])
                    for f in ("byteHours", "cost", "adjustment", "hours"):
                        if f in item:
                            merged[f] = merged.get(f, 0) + item[f]
                    mine[k] = merged
                else:
                    mine[k] = item
            setattr(acc, attr, mine)


def aggregate(pairs: Iterable[tuple[str, Allocation]]) -> dict[str, Allocation]:
    """Merge rows by name; the first row of each name becomes the accumulator."""
    out: dict[str, Allocation] = {}
    for name, a in pairs:
        acc = out.get(name)
        if acc is None:
            out[name] = a
        else:
            merge_into(acc, a)
    return out


def is_streamable(q: AllocationQuery, start: datetime, end: datetime) -> bool:
    """Sets within one UTC day whose names hold cluster, namespace, pod and container: every
    row has its own name, so rows can go out one by one."""
    if q.aggregate is not None and not set(q.aggregate) >= UNIQUE_KEY:
        return False
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    return start.astimezone(UTC).date() == last


def run_set(
    fleet: Fleet, start: datetime, end: datetime, q: AllocationQuery, reconcile: bool, stream: bool
) -> Iterator[tuple[str, Allocation]]:
    """One set's rows, merged by name; sorted by name unless streamed (Go sorts map keys)."""
    pairs = named_rows(fleet, start, end, q, reconcile)
    if stream and is_streamable(q, start, end):
        idle: dict[str, Allocation] = {}
        for name, a in pairs:
            if a.kind == "idle":
                if name in idle:
                    merge_into(idle[name], a)
                else:
                    idle[name] = a
            else:
                yield name, a
        yield from idle.items()
        return
    merged = aggregate(pairs)
    for name in sorted(merged):
        yield name, merged[name]


def page(rows: Iterable[tuple[str, Allocation]], offset: int, limit: int | None):
    """Kubecost paging: line items by total cost descending; idle rows come on every page."""
    items: list[tuple[str, Allocation]] = []
    idle: list[tuple[str, Allocation]] = []
    for name, a in rows:
        (idle if a.kind == "idle" else items).append((name, a))
    items.sort(key=lambda p: (-p[1].total_ticks, p[0]))
    chosen = items[offset:] if limit is None else items[offset : offset + limit]
    return sorted(chosen + idle, key=lambda p: p[0])
