"""Real public Kubecost/OpenCost payloads parse to the values a person reading them expects.

Each payload is served over (mocked) HTTP and read through the connector's streaming parser
and flattening. Permissively licensed payloads are vendored in unit_tests/resource/fixtures;
the others are read from ../shared/fixtures (see its INDEX.md) when that folder exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests_mock

from source_kubecost.client import KubecostClient
from source_kubecost.config import parse_config
from source_kubecost.errors import KubecostError
from source_kubecost.records import AllocationFlattener, flatten_asset
from source_kubecost.spool import Spool

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "unit_tests" / "resource" / "fixtures"
SHARED = ROOT.parent / "shared" / "fixtures"
URL = "http://kubecost.test:9090"


def _payload(name: str) -> Any:
    for folder in (VENDORED, SHARED):
        if (folder / name).exists():
            return json.loads((folder / name).read_text())
    pytest.skip(f"{name} is not vendored (licence) and {SHARED} is absent on this machine")


def _envelope(payload: Any) -> Any:
    """Payloads published without the envelope (only `data`, or one record) get it back."""
    if isinstance(payload, dict) and "data" in payload:
        return payload
    if isinstance(payload, dict) and "name" in payload:
        payload = [{payload["name"]: payload}]
    return {"code": 200, "status": "success", "data": payload}


def _spool(unique: str = "name") -> Spool:
    return Spool("fixture", unique)


def _read(endpoint: str, payload: Any, transform) -> list[dict[str, Any]]:
    client = KubecostClient(
        parse_config({"url": URL, "flavour": "kubecost", "start_date": "2024-01-01"})
    )
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{URL}/model/{endpoint}", text=json.dumps(_envelope(payload)))
        return list(
            client.fetch(
                endpoint,
                {},
                f"{endpoint} fixture",
                transform,
                _spool("key" if endpoint == "assets" else "name"),
            )
        )


def _allocations(name: str, aggregate: str = "cluster,namespace") -> dict[str, dict[str, Any]]:
    records = _read("allocation", _payload(name), AllocationFlattener(aggregate))
    return {r["name"]: r for r in records}


def _assets(name: str) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in _read("assets", _payload(name), flatten_asset)}


def test_opencost_swagger_namespace_day_reads_as_published() -> None:
    records = _allocations("opencost-swagger__allocation__1.json")
    assert sorted(records) == ["kube-system", "opencost", "prometheus"]
    system = records["kube-system"]
    assert (system["cluster"], system["namespace"]) == ("cluster-one", "kube-system")
    assert (system["totalCost"], system["cpuCost"], system["ramCost"]) == (
        0.425469,
        0.408822,
        0.016647,
    )
    assert system["minutes"] == 2879.235705
    assert records["opencost"]["pod"] and records["opencost"]["providerID"]
    assert records["prometheus"]["totalCost"] == 0.0
    assert not any(r["is_idle"] for r in records.values())


def test_opencost_website_example_keeps_namespace_labels_and_empty_maps() -> None:
    records = _allocations("opencost-website__allocation__1.json")
    system = records["kube-system"]
    assert system["cluster"] == "default-cluster" and system["totalCost"] == 1.52743
    assert system["namespaceLabels"]["kubernetes_io_metadata_name"] == "kube-system"
    assert system["proportionalAssetResourceCosts"] == {}
    assert "pvs" not in system  # null: left out, as Airbyte does
    assert records["opencost"]["providerID"] == "i-123458f89b9d35c11"
    assert records["opencost"]["controllerKind"] == "deployment"


def test_flexera_record_keeps_its_hand_edited_numbers() -> None:
    [record] = _allocations("flexera-cbi-oi-kubecost-exporter__allocation__1.json").values()
    assert record["name"] == "nonprod-cluster/fish"
    assert (record["cluster"], record["namespace"]) == ("nonprod-cluster", "fish")
    # The published totalCost does not add up; the connector never recomputes it.
    assert (record["totalCost"], record["cpuCostAdjustment"]) == (0.0246, -0.0235)
    assert record["namespaceLabels"]["field_cattle_io_projectId"]


def test_cloud_billing_record_passes_newer_fields_through() -> None:
    [record] = _allocations("cloud-billing__allocation__1.json").values()
    assert (record["cluster"], record["namespace"], record["minutes"]) == ("cluster-one", "utc", 35)
    assert record["totalCost"] == 0.00156
    assert "cpuCostIdle" in record and "gpuEfficiency" in record
    assert set(record["gpuAllocation"]) == {"gpuRequestAverage", "gpuUsageAverage", "isGPUShared"}
    assert record["labels"]["providerID"] == "xxxx"


def test_pluralsh_capture_flags_idle_and_keeps_negative_zero_as_zero() -> None:
    records = _allocations("pluralsh-console__allocation__1.json")
    assert len(records) == 20
    assert [n for n, r in records.items() if r["is_idle"]] == ["__idle__"]
    assert records["__idle__"]["cluster"] == "cluster-one"
    adjustments = [r["cpuCostAdjustment"] for r in records.values()]
    assert all(isinstance(a, float) for a in adjustments) and min(adjustments) <= 0.0


def test_opencost_capture_with_empty_sets_reads_only_the_real_records() -> None:
    records = _allocations("tkubica12-azure-workshops__allocation__1.json", "namespace")
    assert len(records) == 9
    assert all(r["namespace"] == r["name"] for r in records.values())


def test_kubecost_docs_records_with_old_property_names() -> None:
    [unmounted] = _allocations("kubecost-docs__allocation__2.json").values()
    assert unmounted["is_unmounted"] and unmounted["container"] == "__unmounted__"
    [record] = _allocations(
        "kubecost-docs__allocation__3.json", "cluster,node,namespace,pod,container"
    ).values()
    assert (record["pod"], record["container"]) == (
        "kubecost-cost-analyzer-94dc86fc-lwvrm",
        "cost-model",
    )
    assert record["labels"] is not None  # from the singular `properties.label`


def test_nops_key_without_cluster_keeps_unallocated_flag() -> None:
    [record] = _allocations(
        "nops-k8s-agent__allocation__1.json", "namespace,deployment,pod,container"
    ).values()
    assert record["is_unallocated"] and record["namespace"] == "kube-system"
    assert record["ramCost"] == 2e-05


def test_opencost_assets_single_map_node_and_disk() -> None:
    records = _assets("opencost-website__assets__1.json")
    node = next(r for r in records.values() if r["type"] == "Node")
    disk = next(r for r in records.values() if r["type"] == "Disk")
    assert (node["cluster"], node["project"], node["provider"]) == (
        "gke-opencost",
        "testuser-opencost",
        "GCP",
    )
    assert (node["preemptible"], node["totalCost"], node["cpuCost"]) == (1.0, 0.466114, 0.307185)
    assert node["overhead"]["CpuOverheadFraction"] == 0.53 and node["pool"]
    assert disk["bytes"] == 8589934592.0 and disk["claimName"]


@pytest.mark.parametrize(
    ("name", "types"),
    [
        (
            "kubecost-docs__assets__1.json",
            {"Cloud", "ClusterManagement", "Disk", "LoadBalancer", "Node"},
        ),
        (
            "kubecost-docs__assets__2.json",
            {"ClusterManagement", "Disk", "LoadBalancer", "Network", "Node"},
        ),
        ("aws-modernization-workshop__assets__1.json", {"ClusterManagement", "Disk", "Node"}),
    ],
)
def test_kubecost_assets_by_type(name: str, types: set[str]) -> None:
    records = _assets(name)
    assert {r["type"] for r in records.values()} == types
    node = records["Node"]
    assert node["cpuCost"] is not None and node["totalCost"] is not None
    assert all(isinstance(r["totalCost"], float) for r in records.values())


def test_kubecost_docs_node_with_huge_list_cost_and_negative_adjustment() -> None:
    node = _assets("kubecost-docs__assets__2.json")["Node"]
    assert (node["cpuCost"], node["adjustment"], node["totalCost"]) == (
        59016.618816,
        -68597.241975,
        29.862398,
    )


def test_cloud_assets_keep_nine_part_keys_and_credit() -> None:
    records = _assets("kubecost-docs__assets__4.json")
    assert len(records) == 3
    assert all(key.count("/") == 8 and r["credit"] == 0 for key, r in records.items())


def test_cluster_info_sample_reads_as_strings() -> None:
    client = KubecostClient(
        parse_config({"url": URL, "flavour": "kubecost", "start_date": "2024-01-01"})
    )
    body = {
        "code": 200,
        "status": "success",
        "data": _payload("opencost-test__clusterInfo__1.json"),
    }
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{URL}/model/clusterInfo", text=json.dumps(body))
        info = client.get_json("clusterInfo", {}, "cluster info")
    assert (info["id"], info["name"], info["version"]) == ("cluster-one", "bolt-3", "1.14+")


def test_bare_list_without_envelope_is_not_mistaken_for_kubecost() -> None:
    """A body that is not an object (the published `data` list alone) is retried, then fails."""
    client = KubecostClient(
        parse_config({"url": URL, "flavour": "kubecost", "start_date": "2024-01-01"})
    )
    payload = _payload("flexera-cbi-oi-kubecost-exporter__allocation__1.json")
    with requests_mock.Mocker() as mocker, pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_KUBECOST_BACKOFF_SECONDS", "0")
        mocker.get(f"{URL}/model/allocation", text=json.dumps(payload))
        with pytest.raises(KubecostError, match="not JSON"):
            client.fetch("allocation", {}, "allocations", AllocationFlattener("cluster"), _spool())
