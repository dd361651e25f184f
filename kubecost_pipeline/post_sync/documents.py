"""Mart row -> MongoDB `resources` document, as OptScale stores one (pure functions).

A document has three parts: fields the hook owns and `$set`s when they change (`owned`), seen
times that only widen (`$min`/`$max`), and fields set once at insert (`$setOnInsert`). Of a
stored document the hook keeps only a fingerprint per field, so it can send just the changed
fields without holding 100k documents in memory.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from kubecost_pipeline.post_sync import settings

# Top-level fields the hook owns, and the `meta` keys it owns (other writers' meta keys stay).
OWNED_FIELDS = (
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
    "total_cost",
    "last_expense",
)
OWNED_META = ("source", "costs", "efficiency", "kubernetes", "rightsizing")
SEEN_FIELDS = ("first_seen", "last_seen", "_first_seen_date", "_last_seen_date")
# The compared fields, in one fixed order (`meta.<key>` paths for the owned meta keys).
VIEW = (*OWNED_FIELDS, *(f"meta.{k}" for k in OWNED_META), *SEEN_FIELDS)
SEEN_AT = len(VIEW) - len(SEEN_FIELDS)
# What the hook reads back from Mongo: enough to compare and to widen the seen times.
PROJECTION = {
    "_id": 1,
    "cloud_resource_id": 1,
    "active": 1,
    **dict.fromkeys(OWNED_FIELDS, 1),
    **{f"meta.{k}": 1 for k in OWNED_META},
    **dict.fromkeys(SEEN_FIELDS, 1),
}
COST_FIELDS = (
    "cpu_cost",
    "gpu_cost",
    "ram_cost",
    "pv_cost",
    "network_cost",
    "load_balancer_cost",
    "shared_cost",
    "idle_cost",
    "last_day_cost",
)
NODE_FIELDS = (
    "instance_type",
    "zone",
    "region",
    "capacity_cpu_cores",
    "capacity_ram_bytes",
    "is_spot",
)


@dataclass(frozen=True)
class Existing:
    """The part of a stored document the hook remembers (small: ~100k of these fit easily)."""

    id: str
    fingerprint: tuple[int, ...]  # one per `VIEW` field
    first_seen: int | None
    last_seen: int | None
    active: bool


@dataclass(frozen=True)
class Desired:
    """A document as the marts say it should be."""

    cloud_resource_id: str
    owned: dict[str, Any]  # top-level fields and `meta.<key>` paths
    first_seen: int
    last_seen: int
    active: bool

    def widened(self, existing: Existing | None) -> tuple[int, int]:
        """first_seen/last_seen after `$min`/`$max` against the stored values."""
        first, last = self.first_seen, self.last_seen
        if existing is not None and existing.first_seen is not None:
            first = min(first, existing.first_seen)
        if existing is not None and existing.last_seen is not None:
            last = max(last, existing.last_seen)
        return first, last


def cloud_resource_id(level: str, resource_key: str) -> str:
    return f"{level}:{resource_key}"


def encode_tags(labels: Mapping[str, str]) -> dict[str, str]:
    """Tag keys base64-encoded, as OptScale's `encoded_tags` stores them; values unchanged."""
    return {base64.b64encode(k.encode()).decode(): str(v) for k, v in sorted(labels.items())}


def day_start(ts: int) -> datetime:
    """Naive UTC midnight of a unix timestamp (OptScale's `timestamp_to_day_start`)."""
    day = datetime.fromtimestamp(ts, UTC).date()
    return datetime(day.year, day.month, day.day)


def midnight_ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def desired_document(row: Sequence[Any], horizon: date, now: int, cluster: str) -> Desired:
    """The document for one `k8s_resources` row (columns in `settings.RESOURCE_COLUMNS` order).

    Active = had cost on the cluster's latest day (`horizon`). An active resource is seen
    `now`, as OptScale's discovery stamps `last_seen`; a gone one was last seen when the
    marts last saw it running.
    """
    r = dict(zip(settings.RESOURCE_COLUMNS, row, strict=True))
    level = r["level"]
    first_day, last_day = midnight_ts(r["first_seen_date"]), midnight_ts(r["last_seen_date"])
    first_seen = r["first_seen_at"] if r["first_seen_at"] > 0 else first_day
    active = r["last_seen_date"] >= horizon
    last_seen = now if active else max(r["last_seen_at"], last_day)
    kubernetes: dict[str, Any] = {"cluster": cluster}
    if level == "node":
        kubernetes.update({f: r[f] for f in NODE_FIELDS})
        kubernetes["is_spot"] = None if r["is_spot"] is None else bool(r["is_spot"])
    elif level == "pod":
        kubernetes.update(
            controller_kind=r["controller_kind"],
            controller=r["controller"],
            containers=json.loads(r["containers"] or "[]"),
        )
    owned = {
        "resource_type": settings.RESOURCE_TYPES[level],
        "name": r["resource_name"] or r["resource_key"],
        "region": r["region"] or None,
        "k8s_cluster": cluster,
        "k8s_namespace": r["k8s_namespace"] or None,
        "k8s_node": r["k8s_node"] or None,
        "k8s_service": r["k8s_service"] or None,
        "created_by_kind": (r["controller_kind"] or None) if level == "pod" else None,
        "created_by_name": (r["controller"] or None) if level == "pod" else None,
        "tags": encode_tags(r["labels"] or {}),
        "total_cost": _cost(r["total_cost"]),
        "last_expense": {"date": last_day, "cost": _cost(r["last_day_cost"])},
        "meta.source": "kubecost",
        "meta.costs": {f.removesuffix("_cost"): _cost(r[f]) for f in COST_FIELDS},
        "meta.efficiency": {  # null when Kubecost reports none
            "cpu": _number(r["cpu_efficiency"]),
            "ram": _number(r["ram_efficiency"]),
            "total": _number(r["total_efficiency"]),
        },
        "meta.kubernetes": kubernetes,
        "meta.rightsizing": {
            "recommended_cpu_cores": _number(r["recommended_cpu_cores"]),
            "recommended_ram_bytes": _number(r["recommended_ram_bytes"]),
            "monthly_saving": _number(r["monthly_saving"]),
        },
    }
    return Desired(
        cloud_resource_id=cloud_resource_id(level, r["resource_key"]),
        owned=owned,
        first_seen=first_seen,
        last_seen=last_seen,
        active=active,
    )


def _cost(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def fingerprint(values: Sequence[Any]) -> tuple[int, ...]:
    """Per-field hashes of `repr`: equal values (as BSON returns what the hook wrote), equal
    hashes. A value another writer reordered hashes differently and is simply rewritten."""
    return tuple(hash(repr(v)) for v in values)


def remember(doc: Mapping[str, Any]) -> Existing:
    meta = doc.get("meta") or {}
    values = [doc.get(f) for f in OWNED_FIELDS]
    values += [meta.get(k) for k in OWNED_META]
    values += [doc.get(f) for f in SEEN_FIELDS]
    return Existing(
        id=doc["_id"],
        fingerprint=fingerprint(values),
        first_seen=doc.get("first_seen"),
        last_seen=doc.get("last_seen"),
        active=doc.get("active") is True,
    )


def update_for(
    desired: Desired, existing: Existing | None, on_insert: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The Mongo update that makes the stored document `desired`; None when it already is.

    Changed owned fields are `$set`, seen times widen with `$min`/`$max`, `active` is set
    true or unset (never false), and a new document gets `on_insert` via `$setOnInsert`.
    """
    first, last = desired.widened(existing)
    values = [desired.owned[k] for k in VIEW[:SEEN_AT]]
    values += [first, last, day_start(first), day_start(last)]
    if existing is None:
        changed = list(range(len(VIEW)))
    else:
        changed = [i for i, (h, v) in enumerate(zip(existing.fingerprint, values, strict=True))
                   if h != hash(repr(v))]  # fmt: skip
    update: dict[str, Any] = {}
    owned = {VIEW[i]: values[i] for i in changed if i < SEEN_AT}
    if desired.active and (existing is None or not existing.active):
        owned["active"] = True
    if owned:
        update["$set"] = owned
    if any(i >= SEEN_AT for i in changed):
        update["$min"] = {"first_seen": first, "_first_seen_date": day_start(first)}
        update["$max"] = {"last_seen": last, "_last_seen_date": day_start(last)}
    if not desired.active and existing is not None and existing.active:
        update["$unset"] = {"active": ""}
    if existing is None:
        update["$setOnInsert"] = dict(on_insert)
    return update or None
