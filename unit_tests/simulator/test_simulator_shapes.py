"""Each flavour's payloads have the field names, nesting and value types of real ones."""

from __future__ import annotations

import pytest
import requests
from simulator_helpers import CONTAINER_AGG, WINDOW, fixture, get


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def first_record(payload: dict | list, name: str | None = None) -> dict:
    data = payload["data"] if isinstance(payload, dict) else payload
    first_set = data[0] if isinstance(data, list) else data
    return first_set[name] if name else next(iter(first_set.values()))


def assert_same_types(real: dict, ours: dict, nullable: set[str] = frozenset()) -> None:
    """Every field of the real record exists in ours with the same JSON type; ``null`` on
    either side matches an object (pvs, lbAllocations, rawAllocationOnly)."""
    missing = set(real) - set(ours)
    assert not missing, f"fields missing from the simulator: {sorted(missing)}"
    for key, value in real.items():
        types = {json_type(value), json_type(ours[key])}
        assert len(types) == 1 or types == {"null", "dict"} or key in nullable, (key, types)


def container_row(server, **params) -> dict:
    data = get(server, "/allocation", window=WINDOW, accumulate="true", **params)["data"][0]
    return next(a for a in data.values() if "__" not in a["name"] and a.get("pvs"))


def test_given_kubecost19_then_fields_match_the_swagger_example_in_order_with_string_floats(
    servers,
):
    real = first_record(fixture("opencost-swagger__allocation__1.json"))
    ours = container_row(servers("kubecost19"))
    assert list(ours) == list(real)
    for key, value in real.items():
        if isinstance(value, float | int):
            assert isinstance(ours[key], str) and float(ours[key]) == float(ours[key])
            assert len(ours[key].split(".")[1]) == 6, (key, ours[key])
    assert ours["rawAllocationOnly"] is not None  # un-aggregated rows carry it


def test_given_opencost_then_fields_are_the_website_example_plus_newer_ones(servers):
    real = first_record(fixture("opencost-website__allocation__1.json"), "opencost")
    ours = get(servers("opencost"), "/allocation", window=WINDOW, aggregate="namespace")
    ours = first_record(ours)
    assert_same_types(real, ours)
    newer = {
        "gpuRequestAverage",
        "gpuUsageAverage",
        "gpuEfficiency",
        "cpuCostIdle",
        "gpuCostIdle",
        "ramCostIdle",
    }
    assert set(ours) - set(real) == newer


def test_given_kubecost1_container_rows_then_they_match_the_flexera_record(servers):
    real = first_record(fixture("flexera-cbi-oi-kubecost-exporter__allocation__1.json"))
    ours = container_row(servers("kubecost1"))
    assert_same_types(real, ours)
    assert set(ours["rawAllocationOnly"]) == set(real["rawAllocationOnly"])
    assert set(real["properties"]) <= set(ours["properties"]) | {"labels"}


def test_given_kubecost2_then_fields_match_the_2x_record_and_properties_are_trimmed(servers):
    real = first_record(fixture("cloud-billing__allocation__1.json"))
    server = servers("kubecost2")
    ours = first_record(get(server, "/allocation", window=WINDOW, aggregate="cluster,namespace"))
    assert_same_types(real, ours, nullable={"rawAllocationOnly"})
    assert set(ours["gpuAllocation"]) == set(real["gpuAllocation"])
    rows = get(server, "/allocation", window=WINDOW, aggregate="cluster,namespace")["data"][0]
    for name, row in rows.items():
        if "__idle__" not in name:
            assert set(row["properties"]) <= {"cluster", "namespace", "namespaceLabels"}, name


def test_given_kubecost2_without_aggregate_then_rows_are_namespaces(servers, fleet):
    rows = get(servers("kubecost2"), "/allocation", window=WINDOW, accumulate="true")["data"][0]
    namespaces = {
        ns.name for c in fleet.structure.clusters for ns in fleet.structure.namespaces[c.id]
    }
    assert set(rows) - {"__idle__", "__unmounted__"} <= namespaces


@pytest.mark.parametrize("flavour", ["kubecost1", "kubecost19"])
def test_given_kubecost1x_without_aggregate_then_names_are_container_keys(servers, flavour):
    rows = get(servers(flavour), "/allocation", window=WINDOW, accumulate="true")["data"][0]
    for name, row in rows.items():
        if name == "__idle__":
            continue
        p = row["properties"]
        assert name == "/".join(
            p.get(k, "") for k in ("cluster", "node", "namespace", "pod", "container")
        )
    assert any(n.endswith("//__unmounted__/__unmounted__/__unmounted__") for n in rows)


def test_given_opencost_assets_then_data_is_one_map_shaped_like_the_website_example(servers):
    real = fixture("opencost-website__assets__1.json")["data"]
    ours = get(servers("opencost"), "/assets", window=WINDOW)
    assert isinstance(ours["data"], dict)
    for kind in ("Node", "Disk"):
        r = next(a for a in real.values() if a["type"] == kind)
        o = next(
            a
            for a in ours["data"].values()
            if a["type"] == kind and a["properties"]["provider"] == "GCP"
        )
        assert set(o) == set(r), kind
        assert_same_types(r, o)
        assert set(r["properties"]) <= set(o["properties"]) | {"account"}


def test_given_kubecost_assets_then_data_is_daily_sets_keyed_by_nine_properties(servers):
    body = get(servers("kubecost1"), "/assets", window="2026-11-05T00:00:00Z,2026-11-07T00:00:00Z")
    assert isinstance(body["data"], list) and len(body["data"]) == 2
    types = {a["type"] for a in body["data"][0].values()}
    assert types == {"Node", "Disk", "LoadBalancer", "ClusterManagement"}
    for key, asset in body["data"][0].items():
        props = {**asset["properties"], "type": asset["type"]}
        parts = (
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
        assert key == "/".join(props.get(p) or "__undefined__" for p in parts)
        assert "adjustment" in asset or asset["type"] == "ClusterManagement"
    node = next(a for a in body["data"][0].values() if a["type"] == "Node")
    assert node["labels"] and all(k.startswith("label_") for k in node["labels"])
    opencost = get(servers("opencost"), "/assets", window=WINDOW)["data"]
    node = next(a for a in opencost.values() if a["type"] == "Node")
    assert "node_kubernetes_io_instance_type" in node["labels"]
    raw = requests.get(servers("kubecost1").api_url + "/assets", params={"window": WINDOW}).text
    assert '"cpuCores":8.000000' in raw or '"cpuCores":4.000000' in raw  # %f numbers


def test_given_cluster_info_then_every_value_is_a_string_like_the_real_one(servers):
    real = fixture("opencost-test__clusterInfo__1.json")
    for flavour in ("kubecost2", "opencost"):
        ours = get(servers(flavour), "/clusterInfo")
        assert ours["code"] == 200
        assert set(real) <= set(ours["data"])
        assert all(isinstance(v, str) for v in ours["data"].values())


def test_given_cluster_info_map_install_info_and_configs_then_they_answer(servers, fleet):
    server = servers("kubecost1")
    info_map = get(server, "/clusterInfoMap")["data"]
    assert set(info_map) == {c.id for c in fleet.structure.clusters}
    assert set(next(iter(info_map.values()))) == {
        "id",
        "name",
        "profile",
        "provider",
        "account",
        "project",
        "region",
        "provisioner",
    }
    assert get(server, "/installInfo")["data"]["version"] == "1.108.1"
    assert get(server, "/getConfigs")["data"]["currencyCode"] == "USD"
    assert requests.get(servers("opencost").base_url + "/healthz").status_code == 200


@pytest.mark.parametrize(
    ("flavour", "path", "status"),
    [
        ("opencost", "/model/allocation", 404),
        ("kubecost2", "/allocation", 404),
        ("kubecost2", "/model/nope", 404),
        ("opencost", "/getConfigs", 404),
    ],
)
def test_given_a_path_of_another_flavour_then_404(servers, flavour, path, status):
    r = requests.get(servers(flavour).base_url + path, params={"window": WINDOW})
    assert r.status_code == status


def test_given_the_same_container_query_then_k2_names_follow_the_multi_aggregate(servers):
    rows = get(servers("kubecost2"), "/allocation", window=WINDOW, aggregate=CONTAINER_AGG)
    for name, row in rows["data"][0].items():
        if "__idle__" in name or "__unmounted__" in name:
            continue
        p = row["properties"]
        kind, ctrl = p.get("controllerKind"), p.get("controller")
        assert name == "/".join(
            [
                p["cluster"],
                p["node"],
                p["namespace"],
                kind or "__unallocated__",
                f"{kind}:{ctrl}" if kind else "__unallocated__",
                p["pod"],
                p["container"],
            ]
        )
