"""PyAirbyte, a client nobody here wrote, drives `source-kubecost` against the simulator.

PyAirbyte (`airbyte` 0.71) lives in its own environment (`make .venv-pyairbyte/.installed`;
its pins conflict with ours), so it runs as a process: integration_tests/pyairbyte_driver.py.
It validates configs against our spec, checks, discovers, reads every stream into its DuckDB
cache twice (the second read incremental, from the state it kept), and reports what landed.
The expected values come from the same sync read directly, not from PyAirbyte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airbyte_cdk.test.entrypoint_wrapper import discover

from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer
from source_kubecost import SourceKubecost

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PYAIRBYTE = ROOT / ".venv-pyairbyte" / "bin" / "python"
SOURCE = str(Path(sys.executable).parent / "source-kubecost")
STREAMS = ["allocations", "assets", "clusters"]


def _direct(config: dict, tmp: Path) -> dict[str, list[dict]]:
    """The same sync, read with the connector's own process (no PyAirbyte)."""
    catalog = ROOT / "integration_tests" / "configured_catalog.json"
    args = [SOURCE, "read", "--config", str(tmp / "config.json"), "--catalog", str(catalog)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    records: dict[str, list[dict]] = {name: [] for name in STREAMS}
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records[message["record"]["stream"]].append(message["record"]["data"])
    return records


def test_given_pyairbyte_when_it_drives_the_connector_then_every_declared_field_lands(
    tmp_path: Path,
) -> None:
    if not PYAIRBYTE.exists():
        pytest.fail("PyAirbyte's environment is missing: run `make .venv-pyairbyte/.installed`")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first = yesterday - timedelta(days=5)
    fleet = Fleet(
        FleetSpec(
            seed=3, clusters=2, namespaces_per_cluster=2, pods_per_namespace=2, start=first, days=6
        )
    )
    with SimulatorServer(fleet, flavour="kubecost2") as server:
        config = {"url": server.base_url, "start_date": first.isoformat(), "lookback_days": 1}
        (tmp_path / "config.json").write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
        done = subprocess.run(
            [
                str(PYAIRBYTE),
                str(ROOT / "integration_tests" / "pyairbyte_driver.py"),
                SOURCE,
                str(tmp_path / "config.json"),
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout.splitlines()[-1])
        direct = _direct(config, tmp_path)

    assert seen["bad_configs"] == dict.fromkeys(seen["bad_configs"], "rejected")
    assert seen["streams"] == STREAMS
    ours = discover(SourceKubecost(), config).catalog.catalog
    assert seen["schemas"] == {s.name: s.json_schema for s in ours.streams}
    for read in seen["reads"]:  # per-stream state, after the full and the incremental read
        for name in ("allocations", "assets"):
            assert read["states"][name]["window_start"] == f"{yesterday}T00:00:00Z"
    for name in STREAMS:
        table, records = seen["tables"][name], direct[name]
        assert table["rows"] == len(records) > 0  # the incremental re-read merged by key
        for field in {key for record in records for key in record}:
            column = field.lower()  # PyAirbyte's cache lowercases column names
            assert column in table["columns"], f"{name}.{field} did not land"
            present = sum(record.get(field) is not None for record in records)
            assert table["non_null"][column] == present, f"{name}.{field}"
    by_day: dict[str, float] = {}
    for record in direct["allocations"]:
        day = record["window_start"][:10]
        by_day[day] = by_day.get(day, 0.0) + record["totalCost"]
    landed = seen["tables"]["allocations"]["totalcost_by_day"]
    assert set(landed) == set(by_day)
    final = [day for day in by_day if day < str(yesterday - timedelta(days=2))]
    assert final  # days Kubecost no longer restates (about 48 hours after they end)
    for day in final:
        assert landed[day] == pytest.approx(by_day[day], rel=1e-9), day
