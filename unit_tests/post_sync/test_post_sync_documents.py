"""Row mapping and correction rules as data: given row -> expected document / rows."""

from __future__ import annotations

import base64
import dataclasses
from datetime import date, datetime

import pytest

from kubecost_pipeline.post_sync import documents, settings
from kubecost_pipeline.post_sync.expenses import correction, day_chunks

NOW = 1_793_000_000
HORIZON = date(2026, 10, 3)
ACCOUNT = "4f6c0c3e-2d0b-4d46-9a43-3d9c2f1f7b10"
UNKNOWN = (0,) * len(documents.VIEW)  # a stored document whose every field differs


def projection(resource_level: str = "pod", mart_totals: bool = False) -> documents.Projection:
    return documents.Projection(ACCOUNT, "prod", resource_level, mart_totals, HORIZON, NOW)


def desired(p: documents.Projection | None = None, **values: object) -> documents.Desired:
    r = dict(zip(settings.RESOURCE_COLUMNS, row(**values), strict=True))
    return documents.desired_document(r, p or projection(), {})


def stored(**values: object) -> documents.Existing:
    fields: dict[str, object] = {
        "id": "id", "fingerprint": UNKNOWN, "first_seen": 1, "last_seen": 2, "active": True,
        "present": frozenset({"active", "_first_seen_date", "_last_seen_date"}),
        "total_cost": None, "last_expense": None, "level": "pod", "key": "payments/api",
    }  # fmt: skip
    fields.update(values)
    return documents.Existing(**fields)  # type: ignore[arg-type]


def row(**values: object) -> tuple:
    base: dict[str, object] = dict.fromkeys(settings.RESOURCE_COLUMNS, 0.0)
    base.update(
        level="pod", resource_key="payments/api-7d9c-abcde", resource_name="api-7d9c-abcde",
        k8s_namespace="payments", k8s_node="ip-10-0-1-2", k8s_service="", labels={},
        first_seen_date=date(2026, 10, 1), last_seen_date=HORIZON,
        first_seen_at=int(datetime(2026, 10, 1, 8).timestamp()),
        last_seen_at=int(datetime(2026, 10, 3, 20).timestamp()),
        instance_type="", zone="", region="", is_spot=False, controller_kind="deployment",
        controller="api", containers="[]",
    )  # fmt: skip
    base.update(values)
    return tuple(base[c] for c in settings.RESOURCE_COLUMNS)


GONE_AT = int(datetime(2026, 10, 2, 9).timestamp())
NODE = {"level": "node", "resource_key": "ip-10-0-1-2", "instance_type": "m5.large", "is_spot": 1}
CASES = [
    # (given row values, expected owned/seen fields)
    ({}, {"active": True, "last_seen": NOW, "created_by_kind": "deployment", "k8s_service": None,
          "resource_type": "K8s Pod", "meta": {}}),
    ({"last_seen_date": date(2026, 10, 2), "last_seen_at": GONE_AT},
     {"active": False, "last_seen": GONE_AT}),
    ({"first_seen_at": 0}, {"first_seen": int(datetime(2026, 10, 1).timestamp())}),
    ({"level": "namespace", "resource_key": "payments", "k8s_node": ""},
     {"resource_type": "K8s Namespace", "created_by_kind": None, "k8s_node": None,
      "active": False}),
    (NODE, {"resource_type": "K8s Node"}),
    ({"cpu_efficiency": None, "cpu_cost": None},  # Nullable in the real marts
     {"cpu_efficiency": None, "ram_efficiency": 0.0, "cpu_cost": 0.0}),
    ({"labels": {"app.kubernetes.io/name": "api", "team": "pay"}},
     {"tags": {"YXBwLmt1YmVybmV0ZXMuaW8vbmFtZQ==": "api", "dGVhbQ==": "pay"}}),
    ({"resource_key": "__unmounted__/__unmounted__", "k8s_namespace": "__unmounted__"},
     {"resource_type": "K8s Unmounted Volumes", "active": True}),
    ({"resource_key": "payments/__unallocated__"}, {"resource_type": "K8s Unallocated"}),
]  # fmt: skip


@pytest.mark.parametrize(("given", "expect"), CASES)
def test_row_to_document(given: dict, expect: dict) -> None:
    d = desired(**given)

    got = {**d.owned, "active": d.active, "first_seen": d.first_seen, "last_seen": d.last_seen}
    assert {k: got[k] for k in expect} == expect
    assert "organization_id" not in d.owned


def test_cloud_resource_ids_are_unique_per_account_cluster_and_pod_and_stable() -> None:
    pod = "ns/web-0"  # a StatefulSet pod: the same name in every cluster
    ids = {
        documents.cloud_resource_id(account, cluster, "pod", pod)
        for account in ("a", "b")
        for cluster in ("eu", "us")
    }
    assert len(ids) == 4
    assert documents.cloud_resource_id("a", "eu", "pod", pod) in ids  # same inputs, same id
    assert documents.cloud_resource_id("a", "eu", "namespace", "ns") not in ids


def test_resources_carry_the_four_seen_fields_and_rollups_only_two() -> None:
    pod = documents.update_for(desired(), None, {"_id": "x"})
    node = documents.update_for(desired(**NODE), None, {"_id": "y"})

    assert pod is not None and node is not None
    assert set(pod["$min"]) | set(pod["$max"]) == {
        "first_seen", "last_seen", "_first_seen_date", "_last_seen_date"
    }  # fmt: skip
    assert set(node["$min"]) | set(node["$max"]) == {"first_seen", "last_seen"}
    assert "active" not in node["$set"] and node["$set"]["total_cost"] == 0.0


def test_a_stored_rollup_loses_what_would_list_it_as_a_resource() -> None:
    node = desired(**NODE)
    update = documents.update_for(node, stored(level="node"), {})

    assert update is not None
    assert update["$unset"] == dict.fromkeys(("active", "_first_seen_date", "_last_seen_date"), "")


def test_tag_keys_decode_like_optscale_format_resource() -> None:
    tags = documents.encode_tags({"app": "x", "team": "y", "a.b/c": "z"})

    assert {base64.b64decode(k).decode(): v for k, v in tags.items()} == {
        "app": "x",
        "team": "y",
        "a.b/c": "z",
    }


def test_seen_times_only_widen() -> None:
    d = desired()
    old = stored(first_seen=1, last_seen=NOW + 99)

    assert d.widened(old) == (1, NOW + 99)
    update = documents.update_for(d, old, {})
    assert update is not None and "$min" not in update  # nothing to widen
    update = documents.update_for(d, dataclasses.replace(old, present=frozenset()), {})
    assert update is not None  # a resource without OptScale's seen dates gets them
    assert update["$min"]["_first_seen_date"] == datetime(1970, 1, 1)
    assert "$setOnInsert" not in update


def test_a_gone_resource_gets_active_unset_never_false() -> None:
    d = desired(last_seen_date=date(2026, 10, 1))

    update = documents.update_for(d, stored(), {})

    assert update is not None
    assert update["$unset"] == {"active": ""} and "active" not in update["$set"]


def test_a_resource_missing_from_the_marts_goes_inactive_and_a_rollup_loses_its_cost() -> None:
    p = projection()

    assert documents.gone_update(stored(), p) == {"$unset": {"active": ""}}
    rollup = stored(level="namespace", active=False, present=frozenset(), total_cost=4.0)
    assert documents.gone_update(rollup, p) == {"$set": {"total_cost": 0.0}}
    assert documents.gone_update(stored(level="namespace", total_cost=0.0, active=False,
                                        present=frozenset()), p) is None  # fmt: skip


@pytest.mark.parametrize(
    ("old", "total", "last_day", "last_cost", "update"),
    [
        ((None, None), 3.0, 86_400, 1.0,
         {"$set": {"total_cost": 3.0, "last_expense": {"date": 86_400, "cost": 1.0}}}),
        ((3.0, {"date": 86_400, "cost": 1.0}), 3.0 + 1e-12, 86_400, 1.0, None),  # float noise
        ((3.0, {"date": 86_400, "cost": 1.0}), 0.0, None, 0.0,  # no rows at all
         {"$set": {"total_cost": 0.0}, "$unset": {"last_expense": ""}}),
    ],
)  # fmt: skip
def test_totals_follow_diworker(
    old: tuple, total: float, last_day: int | None, last_cost: float, update: dict | None
) -> None:
    existing = stored(total_cost=old[0], last_expense=old[1])

    assert documents.totals_update(existing, total, last_day, last_cost) == update


@pytest.mark.parametrize(
    ("new", "old", "rows"),
    [
        (1.5, None, [(1.5, 1)]),  # first time, or every earlier row collapsed to sign 0
        (0.0, None, []),  # nothing to bill
        (1.5, 1.5, []),  # unchanged
        (1.5 + 1e-12, 1.5, []),  # float noise is no change
        (2.0, 1.5, [(1.5, -1), (2.0, 1)]),  # restated
        (0.0, 1.5, [(1.5, -1), (0.0, 1)]),  # dropped by dbt: nets to 0, pair kept whole
    ],
)
def test_correction_rules(new: float, old: float | None, rows: list) -> None:
    assert correction(new, old) == rows


def test_day_chunks_tile_the_range_and_bound_rows() -> None:
    days = [(date(2026, 10, d), 4) for d in (1, 2, 3, 5, 6)]

    assert day_chunks(days, 8) == [
        (date(2026, 10, 1), date(2026, 10, 2)),
        (date(2026, 10, 3), date(2026, 10, 5)),
        (date(2026, 10, 6), date(2026, 10, 6)),
    ]
    assert day_chunks([], 8) == []


def test_an_unchanged_document_needs_no_update_and_a_changed_one_sends_only_its_changes() -> None:
    d = desired()
    first, last = d.widened(None)
    doc = {
        "_id": "id",
        "active": True,
        **d.owned,
        "first_seen": first,
        "last_seen": last,
        "_first_seen_date": documents.day_start(first),
        "_last_seen_date": documents.day_start(last),
    }

    assert documents.update_for(d, documents.remember(doc), {}) is None
    doc["name"] = "renamed"
    assert documents.update_for(d, documents.remember(doc), {}) == {
        "$set": {"name": d.owned["name"]}
    }
