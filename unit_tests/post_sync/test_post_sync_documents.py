"""Row mapping and correction rules as data: given row -> expected document / rows."""

from __future__ import annotations

import base64
from datetime import date, datetime

import pytest

from kubecost_pipeline.post_sync import documents, settings
from kubecost_pipeline.post_sync.expenses import correction, day_chunks

NOW = 1_793_000_000
HORIZON = date(2026, 10, 3)
UNKNOWN = (0,) * len(documents.VIEW)  # a stored document whose every field differs


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
NODE_META = {
    "cluster": "prod",
    "instance_type": "m5.large",
    "zone": "",
    "region": "",
    "capacity_cpu_cores": 0.0,
    "capacity_ram_bytes": 0.0,
    "is_spot": True,
}
CASES = [
    # (given row values, expected owned/seen fields)
    ({}, {"active": True, "last_seen": NOW, "created_by_kind": "deployment", "k8s_service": None}),
    ({"last_seen_date": date(2026, 10, 2), "last_seen_at": GONE_AT},
     {"active": False, "last_seen": GONE_AT}),
    ({"first_seen_at": 0}, {"first_seen": int(datetime(2026, 10, 1).timestamp())}),
    ({"level": "namespace", "resource_key": "payments", "k8s_node": ""},
     {"resource_type": "K8s Namespace", "cloud_resource_id": "namespace:payments",
      "created_by_kind": None, "k8s_node": None}),
    ({"level": "node", "resource_key": "ip-10-0-1-2", "instance_type": "m5.large", "is_spot": 1},
     {"resource_type": "K8s Node", "meta.kubernetes": NODE_META}),
    ({"cpu_efficiency": None, "total_cost": None},  # Nullable in the real marts
     {"meta.efficiency": {"cpu": None, "ram": 0.0, "total": 0.0}, "total_cost": 0.0}),
    ({"labels": {"app.kubernetes.io/name": "api", "team": "pay"}},
     {"tags": {"YXBwLmt1YmVybmV0ZXMuaW8vbmFtZQ==": "api", "dGVhbQ==": "pay"}}),
]  # fmt: skip


@pytest.mark.parametrize(("given", "expect"), CASES)
def test_row_to_document(given: dict, expect: dict) -> None:
    d = documents.desired_document(row(**given), HORIZON, NOW, "prod")

    got = {
        **d.owned,
        "active": d.active,
        "first_seen": d.first_seen,
        "last_seen": d.last_seen,
        "cloud_resource_id": d.cloud_resource_id,
    }
    assert {k: got[k] for k in expect} == expect
    assert "organization_id" not in d.owned


def test_tag_keys_decode_like_optscale_format_resource() -> None:
    tags = documents.encode_tags({"app": "x", "team": "y", "a.b/c": "z"})

    assert {base64.b64decode(k).decode(): v for k, v in tags.items()} == {
        "app": "x",
        "team": "y",
        "a.b/c": "z",
    }


def test_seen_times_only_widen() -> None:
    d = documents.desired_document(row(), HORIZON, NOW, "prod")
    stored = documents.Existing("id", UNKNOWN, first_seen=1, last_seen=NOW + 99, active=True)

    assert d.widened(stored) == (1, NOW + 99)
    update = documents.update_for(d, stored, {})
    assert update is not None
    assert update["$min"]["_first_seen_date"] == datetime(1970, 1, 1)
    assert "$setOnInsert" not in update


def test_a_gone_resource_gets_active_unset_never_false() -> None:
    d = documents.desired_document(row(last_seen_date=date(2026, 10, 1)), HORIZON, NOW, "prod")
    stored = documents.Existing("id", UNKNOWN, first_seen=1, last_seen=2, active=True)

    update = documents.update_for(d, stored, {})

    assert update is not None
    assert update["$unset"] == {"active": ""} and "active" not in update["$set"]


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
    d = documents.desired_document(row(), HORIZON, NOW, "prod")
    first, last = d.widened(None)
    stored = {
        "_id": "id",
        "active": True,
        **{k: v for k, v in d.owned.items() if not k.startswith("meta.")},
        "meta": {k.removeprefix("meta."): v for k, v in d.owned.items() if k.startswith("meta.")},
        "first_seen": first,
        "last_seen": last,
        "_first_seen_date": documents.day_start(first),
        "_last_seen_date": documents.day_start(last),
    }

    assert documents.update_for(d, documents.remember(stored), {}) is None
    stored["total_cost"] = 99.0
    assert documents.update_for(d, documents.remember(stored), {}) == {
        "$set": {"total_cost": d.owned["total_cost"]}
    }
