"""Every field a record carries is declared in the discovered schema, with a type that fits.

Destinations keep only declared columns (PyAirbyte's cache drops the others), so an
undeclared field is data lost. The records come from every published payload in
../shared/fixtures (and the vendored ones) and from every simulator flavour, read through the
connector's own parsing and flattening; they are validated against the schemas `discover`
returns.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from airbyte_cdk.models.airbyte_protocol_serializers import AirbyteCatalogSerializer
from airbyte_cdk.test.entrypoint_wrapper import discover

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from test_connector_fixtures import SHARED, VENDORED, _read

from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer
from source_kubecost import SourceKubecost
from source_kubecost.catalog import catalog
from source_kubecost.records import AllocationFlattener, flatten_asset
from source_kubecost.spool import EXTRACTION_ID, EXTRACTION_RECORDS
from source_kubecost.streams import Clusters

CONFIG = {"url": "http://kubecost.test:9090", "flavour": "kubecost", "start_date": "2024-01-01"}
_ADDED = {  # what the day readers add to every record (days.py)
    "allocations": {
        "window_start": "2024-01-01T00:00:00Z",
        "window_end": "2024-01-02T00:00:00Z",
        "granularity": "container",
        "aggregate": "cluster,node,namespace,controllerKind,controller,pod,container",
        "idle_policy": "separate",
        "query_settings": {"idle": "true"},
        EXTRACTION_ID: "2024-01-02T06:00:00.000000Z-00000000",
        EXTRACTION_RECORDS: 1,
    },
    "assets": {
        "window_start": "2024-01-01T00:00:00Z",
        "window_end": "2024-01-02T00:00:00Z",
        EXTRACTION_ID: "2024-01-02T06:00:00.000000Z-00000000",
        EXTRACTION_RECORDS: 1,
    },
}


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    catalog = discover(SourceKubecost(), CONFIG).catalog.catalog
    return {stream.name: stream.json_schema for stream in catalog.streams}


def _problems(stream: str, records: list[dict[str, Any]], schema: dict[str, Any]) -> list[str]:
    """Undeclared top-level fields and values that do not validate, one line per field."""
    declared = set(schema["properties"])
    validator = jsonschema.Draft7Validator(schema)
    found = set()
    for record in records:
        found |= {f"{stream}.{key} is not declared" for key in record if key not in declared}
        found |= {
            f"{stream}.{'.'.join(map(str, error.path))}: {error.message[:120]}"
            for error in validator.iter_errors(record)
        }
    return sorted(found)


def _fixture_records() -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(fixture, stream, records) for every allocation, asset and clusterInfo payload."""
    names = sorted(
        {p.name for folder in (VENDORED, SHARED) if folder.exists() for p in folder.glob("*.json")}
    )
    out = []
    for name in names:
        folder = VENDORED if (VENDORED / name).exists() else SHARED
        payload = json.loads((folder / name).read_text())
        if name == "kubecost-docs__allocation__1.json":  # the docs' "...etc" placeholders
            payload["data"] = [
                {k: v for k, v in s.items() if k != "...etc"} for s in payload["data"]
            ]
        if "__allocation__" in name:
            flatten = AllocationFlattener(_ADDED["allocations"]["aggregate"])
            records = _read("allocation", payload, flatten)
            out.append((name, "allocations", [{**r, **_ADDED["allocations"]} for r in records]))
        elif "__assets__" in name:
            records = _read("assets", payload, flatten_asset)
            out.append((name, "assets", [{**r, **_ADDED["assets"]} for r in records]))
        elif "__clusterInfo__" in name:
            out.append((name, "clusters", [_cluster_record(payload)]))  # the data object
    return out


def _cluster_record(info: dict[str, Any]) -> dict[str, Any]:
    class _Client:
        def get_json(self, endpoint: str, *args: Any, **kwargs: Any) -> Any:
            return info if endpoint == "clusterInfo" else {}

    [record] = Clusters(_Client())._records()  # type: ignore[arg-type]
    return record


def test_every_field_of_every_published_payload_is_declared(schemas) -> None:
    fixtures = _fixture_records()
    assert {stream for _, stream, _ in fixtures} == {"allocations", "assets", "clusters"}
    problems = [
        f"{name}: {problem}"
        for name, stream, records in fixtures
        for problem in _problems(stream, records, schemas[stream])
    ]
    assert problems == []


@pytest.mark.parametrize("flavour", ["kubecost2", "kubecost1", "kubecost19", "opencost"])
def test_every_field_of_every_simulator_flavour_is_declared(flavour, schemas, tmp_path) -> None:
    from connector_builders import run_in_process

    first = datetime.now(UTC).date() - timedelta(days=3)
    fleet = Fleet(
        FleetSpec(
            seed=5, clusters=2, namespaces_per_cluster=2, pods_per_namespace=2, start=first, days=2
        )
    )
    catalog = {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for name in ("allocations", "assets", "clusters")
        ]
    }
    with SimulatorServer(fleet, flavour=flavour) as server:
        config = {
            "url": server.base_url,
            "start_date": first.isoformat(),
            "end_date": first.isoformat(),
        }
        (tmp_path / "config.json").write_text(json.dumps(config))
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        args = [
            "read",
            "--config",
            str(tmp_path / "config.json"),
            "--catalog",
            str(tmp_path / "catalog.json"),
        ]
        output = run_in_process(args, tmp_path / "out.jsonl")
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for message in output.records:
        by_stream.setdefault(message.record.stream, []).append(message.record.data)
    assert set(by_stream) == {"allocations", "assets", "clusters"}
    problems = [
        p
        for stream, records in by_stream.items()
        for p in _problems(stream, records, schemas[stream])
    ]
    assert problems == []


def test_the_catalog_without_the_cdk_is_what_discover_returns():
    # The landing takes this catalog in-process instead of running `discover`.
    discovered = discover(SourceKubecost(), CONFIG).catalog.catalog
    assert catalog() == AirbyteCatalogSerializer.dump(discovered)
    assert [s["name"] for s in catalog()["streams"]] == ["allocations", "assets", "clusters"]
