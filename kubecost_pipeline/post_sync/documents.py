"""Mart row -> MongoDB `resources` document, as OptScale's services read one (pure functions).

Two kinds of document (docs/cloudtuner-hook.md, "What it writes"):

- **Resources**: the documents of the level that carries expenses (default: pods). They are
  OptScale resources: `active` true or unset, the four seen fields OptScale's expense views
  filter on, `last_seen` moved to the run's start while active (the heartbeat OptScale's
  resource observer compares with `discovery_info.last_discovery_at`). Real pods are
  OptScale's native `K8s Pod`, whose `meta` the observer copies onto a `PodResource`: it holds
  nothing but that model's keys (none, from Kubecost). Kubecost's pseudo pods
  (`__unmounted__`, ...) are not pods: they get their own resource types.
- **Roll-ups** (the other levels: cluster, node, namespace): the design's documents with the
  roll-up costs and counts, but without `active` and without `_first_seen_date` /
  `_last_seen_date`, so OptScale's expense views, resource counts and pool policies never
  list them as zero-cost resources.

A document has parts the hook owns and `$set`s when they change (`VIEW`), seen times that
only widen (`$min`/`$max`), totals (`total_cost`, `last_expense`), and fields set once at
insert (`$setOnInsert`). Of a stored document the hook keeps only a fingerprint per part.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from kubecost_pipeline.post_sync import settings

# Top-level fields the hook owns, in one fixed order.
VIEW = (
    "resource_type",
    "name",
    "region",
    "k8s_cluster",
    "k8s_namespace",
    "k8s_node",
    "k8s_service",
    "created_by_kind",
    "created_by_name",
    "tags",
    "meta",
    *settings.DESIGN_FIELDS,
    settings.OWN_FIELD,
)
SEEN_FIELDS = ("first_seen", "last_seen", "_first_seen_date", "_last_seen_date")
TOTAL_FIELDS = ("total_cost", "last_expense")
# Fields a roll-up must not have (OptScale would list it as a resource with cost 0).
ROLLUP_ABSENT = ("active", "_first_seen_date", "_last_seen_date", "last_expense")
# What the hook reads back from Mongo: enough to compare and to widen the seen times.
PROJECTION = dict.fromkeys(("_id", "cloud_resource_id", *VIEW, *SEEN_FIELDS, *ROLLUP_ABSENT,
                            *TOTAL_FIELDS), 1)  # fmt: skip
OTHER_COSTS = ("gpu_cost", "network_cost", "load_balancer_cost", "shared_cost", "idle_cost",
               "last_day_cost")  # fmt: skip
NODE_META = ("instance_type", "zone", "capacity_cpu_cores", "capacity_ram_bytes", "is_spot")


@dataclass(frozen=True)
class Existing:
    """The part of a stored document the hook remembers (small: ~100k of these fit easily)."""

    id: str
    fingerprint: tuple[int, ...]  # one per `VIEW` field
    first_seen: int | None
    last_seen: int | None
    active: bool
    present: frozenset[str]  # which of ROLLUP_ABSENT the document has
    total_cost: Any
    last_expense: Any
    level: str | None  # kubecost.level and kubecost.resource_key
    key: str | None


@dataclass(frozen=True)
class Desired:
    """A document as the marts say it should be."""

    cloud_resource_id: str
    level: str
    resource: bool  # an OptScale resource (the expense level), else a roll-up
    owned: dict[str, Any]  # the `VIEW` fields
    first_seen: int
    last_seen: int
    active: bool
    totals: dict[str, Any] | None  # from the marts; None: from `expenses` (diworker's sums)

    def widened(self, existing: Existing | None) -> tuple[int, int]:
        """first_seen/last_seen after `$min`/`$max` against the stored values."""
        first, last = self.first_seen, self.last_seen
        if existing is not None and existing.first_seen is not None:
            first = min(first, existing.first_seen)
        if existing is not None and existing.last_seen is not None:
            last = max(last, existing.last_seen)
        return first, last


@dataclass(frozen=True)
class Projection:
    """What a run projects for one cloud account."""

    account_id: str
    cluster: str
    resource_level: str  # the level whose documents are OptScale resources
    mart_totals: bool  # True when no level carries expenses: totals come from the marts
    horizon: date  # the cluster's latest mart day: active = had cost on it
    now: int  # the run's start: `last_seen` of active resources


def cloud_resource_id(account_id: str, cluster: str, level: str, resource_key: str) -> str:
    """A uuid derived from the account, cluster, level and key: unique across the clusters and
    accounts of an organization (OptScale's observer keys its cache by it), stable across runs,
    and shaped like the pod UIDs OptScale's own Kubernetes discovery uses."""
    name = "\x1f".join((account_id, cluster, level, resource_key))
    return str(uuid.uuid5(settings.ID_NAMESPACE, name))


def resource_type(level: str, resource_key: str) -> str:
    """OptScale's `K8s Pod` for pods; Kubecost's pseudo pods get a type of their own."""
    if level == "pod":
        namespace, _, pod = resource_key.partition("/")
        pseudo = settings.PSEUDO_TYPES.get(pod) or settings.PSEUDO_TYPES.get(namespace)
        if pseudo:
            return pseudo
    return settings.RESOURCE_TYPES[level]


def encode_tags(labels: Mapping[str, str]) -> dict[str, str]:
    """Tag keys base64-encoded, as OptScale's `encoded_tags` stores them; values unchanged."""
    return {base64.b64encode(k.encode()).decode(): str(v) for k, v in sorted(labels.items())}


def day_start(ts: int) -> datetime:
    """Naive UTC midnight of a unix timestamp (OptScale's `timestamp_to_day_start`)."""
    day = datetime.fromtimestamp(ts, UTC).date()
    return datetime(day.year, day.month, day.day)


def midnight_ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def desired_documents(rows: Iterable[Sequence[Any]], p: Projection) -> Iterator[Desired]:
    """The documents of one cluster's `k8s_resources` rows (in `settings.RESOURCE_COLUMNS`
    order). Pods stream through; the few cluster/node/namespace rows wait for the pod counts
    of their `meta`."""
    rollups: list[dict[str, Any]] = []
    counts: Counter[tuple[str, str]] = Counter()
    nodes: set[str] = set()
    namespaces: set[str] = set()
    for row in rows:
        r = dict(zip(settings.RESOURCE_COLUMNS, row, strict=True))
        if r["level"] != "pod":
            rollups.append(r)
            continue
        if (
            r["last_seen_date"] >= p.horizon
            and resource_type("pod", r["resource_key"]) == (settings.RESOURCE_TYPES["pod"])
        ):
            counts["namespace", r["k8s_namespace"]] += 1
            counts["node", r["k8s_node"]] += 1
            counts["cluster", p.cluster] += 1
            namespaces.add(r["k8s_namespace"])
            nodes.add(r["k8s_node"])
        yield desired_document(r, p, {})
    for r in rollups:
        pods = counts[r["level"], r["resource_key"]]
        meta: dict[str, Any] = {"pod_count": pods}
        if r["level"] == "node":
            meta = {f: r[f] for f in NODE_META} | meta
            meta["is_spot"] = None if r["is_spot"] is None else bool(r["is_spot"])
        elif r["level"] == "cluster":
            meta = {"node_count": len(nodes - {""}), "namespace_count": len(namespaces - {""})}
            meta["pod_count"] = pods
        yield desired_document(r, p, meta)


def desired_document(r: Mapping[str, Any], p: Projection, meta: dict[str, Any]) -> Desired:
    """The document of one `k8s_resources` row (a dict by column name).

    Active = had cost on the cluster's latest day (`p.horizon`). An active resource is seen
    `p.now`, as OptScale's discovery stamps `last_seen`; a gone one was last seen when the
    marts last saw it running.
    """
    level, key = r["level"], r["resource_key"]
    is_resource = level == p.resource_level
    first_day, last_day = midnight_ts(r["first_seen_date"]), midnight_ts(r["last_seen_date"])
    first_seen = r["first_seen_at"] if r["first_seen_at"] > 0 else first_day
    active = is_resource and r["last_seen_date"] >= p.horizon
    last_seen = p.now if active else max(r["last_seen_at"], last_day)
    own: dict[str, Any] = {
        "cluster": p.cluster,
        "level": level,
        "resource_key": key,
        "costs": {f.removesuffix("_cost"): _cost(r[f]) for f in OTHER_COSTS},
        "total_efficiency": _number(r["total_efficiency"]),
        "recommended_cpu_cores": _number(r["recommended_cpu_cores"]),
        "recommended_ram_bytes": _number(r["recommended_ram_bytes"]),
    }
    if level == "pod":
        own["containers"] = json.loads(r["containers"] or "[]")
    owned = {
        "resource_type": resource_type(level, key),
        "name": r["resource_name"] or key,
        "region": r["region"] or None,
        "k8s_cluster": p.cluster,
        "k8s_namespace": r["k8s_namespace"] or None,
        "k8s_node": r["k8s_node"] or None,
        "k8s_service": r["k8s_service"] or None,
        "created_by_kind": (r["controller_kind"] or None) if level == "pod" else None,
        "created_by_name": (r["controller"] or None) if level == "pod" else None,
        "tags": encode_tags(r["labels"] or {}),
        "meta": meta,
        "cpu_cost": _cost(r["cpu_cost"]),
        "ram_cost": _cost(r["ram_cost"]),
        "pv_cost": _cost(r["pv_cost"]),
        "cpu_efficiency": _number(r["cpu_efficiency"]),  # null when Kubecost reports none
        "ram_efficiency": _number(r["ram_efficiency"]),
        "saving": _cost(r["monthly_saving"]),
        settings.OWN_FIELD: own,
    }
    totals: dict[str, Any] | None = None
    if not is_resource:
        totals = {"total_cost": _cost(r["total_cost"])}
    elif p.mart_totals:
        totals = {
            "total_cost": _cost(r["total_cost"]),
            "last_expense": {"date": last_day, "cost": _cost(r["last_day_cost"])},
        }
    return Desired(
        cloud_resource_id=cloud_resource_id(p.account_id, p.cluster, level, key),
        level=level,
        resource=is_resource,
        owned=owned,
        first_seen=first_seen,
        last_seen=last_seen,
        active=active,
        totals=totals,
    )


def _cost(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def fingerprint(value: Any) -> int:
    """A hash of `repr`: equal values (as BSON returns what the hook wrote), equal hashes. A
    value another writer reordered hashes differently and is simply rewritten."""
    return hash(repr(value))


def same_totals(existing: Existing | None, total_cost: float, last_expense: Any) -> bool:
    """Whether the stored totals are these, to the cent's billionth: ClickHouse sums the same
    rows in any order, so the last bits of a sum vary between runs."""
    if existing is None or not isinstance(existing.total_cost, int | float):
        return False
    if abs(existing.total_cost - total_cost) > settings.COST_TOLERANCE:
        return False
    old = existing.last_expense
    if old is None or last_expense is None:
        return old is None and last_expense is None
    return (
        isinstance(old, dict)
        and old.get("date") == last_expense["date"]
        and isinstance(old.get("cost"), int | float)
        and abs(old["cost"] - last_expense["cost"]) <= settings.COST_TOLERANCE
    )


def remember(doc: Mapping[str, Any]) -> Existing:
    own = doc.get(settings.OWN_FIELD) or {}
    return Existing(
        id=doc["_id"],
        fingerprint=tuple(fingerprint(doc.get(f)) for f in VIEW),
        first_seen=doc.get("first_seen"),
        last_seen=doc.get("last_seen"),
        active=doc.get("active") is True,
        present=frozenset(f for f in ROLLUP_ABSENT if f in doc),
        total_cost=doc.get("total_cost"),
        last_expense=doc.get("last_expense"),
        level=own.get("level"),
        key=own.get("resource_key"),
    )


def update_for(
    desired: Desired, existing: Existing | None, on_insert: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The Mongo update that makes the stored document `desired`; None when it already is.

    Changed owned fields are `$set`, seen times widen with `$min`/`$max`, `active` is set
    true or unset (never false), and a new document gets `on_insert` via `$setOnInsert`.
    """
    first, last = desired.widened(existing)
    values = [desired.owned[f] for f in VIEW]
    update: dict[str, Any] = {}
    if existing is None:
        owned = dict(zip(VIEW, values, strict=True))
        seen_changed = True
    else:
        owned = {f: v for f, h, v in zip(VIEW, existing.fingerprint, values, strict=True)
                 if h != fingerprint(v)}  # fmt: skip
        missing_dates = {"_first_seen_date", "_last_seen_date"} - existing.present
        seen_changed = (first, last) != (existing.first_seen, existing.last_seen) or bool(
            desired.resource and missing_dates
        )
    totals = desired.totals
    if totals is not None and not same_totals(
        existing, totals["total_cost"], totals.get("last_expense")
    ):
        owned.update(totals)
    if desired.active and (existing is None or not existing.active):
        owned["active"] = True
    if owned:
        update["$set"] = owned
    if seen_changed:
        update["$min"] = {"first_seen": first}
        update["$max"] = {"last_seen": last}
        if desired.resource:
            update["$min"]["_first_seen_date"] = day_start(first)
            update["$max"]["_last_seen_date"] = day_start(last)
    unset = _unset(desired, existing)
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    if existing is None:
        update["$setOnInsert"] = dict(on_insert)
    return update or None


def _unset(desired: Desired, existing: Existing | None) -> list[str]:
    if existing is None:
        return []
    if not desired.resource:
        return [f for f in ROLLUP_ABSENT if f in existing.present]
    unset = ["active"] if existing.active and not desired.active else []
    if desired.totals is not None and "last_expense" not in desired.totals:
        unset += ["last_expense"] if "last_expense" in existing.present else []
    return unset


def gone_update(existing: Existing, p: Projection) -> dict[str, Any] | None:
    """The update of a document the marts no longer have. A resource goes inactive (the
    expenses step zeroes its days and recomputes its totals); a roll-up, and a resource whose
    totals come from the marts, keeps no cost."""
    update: dict[str, Any] = {}
    is_resource = existing.level == p.resource_level
    if is_resource and existing.active:
        update["$unset"] = {"active": ""}
    if (not is_resource or p.mart_totals) and not same_totals(existing, 0.0, None):
        update["$set"] = {"total_cost": 0.0}
        if "last_expense" in existing.present:
            update.setdefault("$unset", {})["last_expense"] = ""
    return update or None


def totals_update(
    existing: Existing | None, total: float, last_day: int | None, last_cost: float
) -> dict[str, Any] | None:
    """diworker's `update_resource_expense_info` for one resource: `total_cost` = the sum of
    its expenses, `last_expense` = its newest day and that day's cost."""
    last_expense = None if last_day is None else {"date": last_day, "cost": last_cost}
    if same_totals(existing, total, last_expense):
        return None
    if last_expense is None:
        return {"$set": {"total_cost": total}, "$unset": {"last_expense": ""}}
    return {"$set": {"total_cost": total, "last_expense": last_expense}}
