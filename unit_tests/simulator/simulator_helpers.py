"""Constants and helpers of the simulator tests (on sys.path via conftest.py)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import requests

from kubecost_pipeline.simulator import FleetSpec, SimulatorServer

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = date(2026, 11, 5)
WINDOW = "2026-11-05T00:00:00Z,2026-11-06T00:00:00Z"
CONTAINER_AGG = "cluster,node,namespace,controllerKind,controller,pod,container"
# The real payloads the connector tests read too (one vendored copy, with its attribution).
FIXTURES = Path(__file__).parents[1] / "resource" / "fixtures"
SPEC = FleetSpec(seed=7, clusters=3, namespaces_per_cluster=6, pods_per_namespace=5)


def fixture(name: str) -> dict | list:
    return json.loads((FIXTURES / name).read_text())


def get(server: SimulatorServer, path: str, **params: str) -> dict:
    """GET ``<api_url><path>`` and return the JSON body of a 200 answer."""
    r = requests.get(server.api_url + path, params=params, timeout=30)
    assert r.status_code == 200, r.text[:500]
    return r.json()
