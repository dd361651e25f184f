"""Airbyte's in-process standard tests (spec, check, discover, read) against the simulator.

The scenarios come from acceptance-test-config.yml; their configs point at a Kubecost
simulator that this module starts, so every worker process has its own.
"""

from __future__ import annotations

import atexit
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.models.scenario import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from airbyte_cdk.test.standard_tests.pytest_hooks import (  # noqa: F401 - pytest fixtures
    read_from_streams,
    read_scenarios,
)

from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer
from source_kubecost import SourceKubecost

ROOT = Path(__file__).resolve().parent.parent
FLEET_START = date(2026, 11, 1)
_SIMULATOR = SimulatorServer(
    Fleet(
        FleetSpec(
            seed=7,
            clusters=1,
            namespaces_per_cluster=2,
            pods_per_namespace=2,
            start=FLEET_START,
            days=10,
        )
    ),
    flavour="kubecost2",
    now=datetime(2026, 11, 8, 6, tzinfo=UTC),
).start()
atexit.register(_SIMULATOR.stop)


# The command each scenario test runs: scenarios whose config is not listed for it are left
# out rather than collected and skipped.
_COMMANDS = {
    "test_check": "check",
    "test_discover": "discover",
    "test_basic_read": "read",
    "test_fail_read_with_bad_catalog": "read",
    "test_config_matches_spec": "spec",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario" in metafunc.fixturenames and metafunc.cls is not None:
        command = _COMMANDS[metafunc.function.__name__]
        scenarios = [s for s in metafunc.cls.get_scenarios() if s.runs(command)]
        metafunc.parametrize("scenario", scenarios, ids=[s.id for s in scenarios])


class TestSourceKubecostStandard(SourceTestSuiteBase):
    connector = SourceKubecost

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        """The file's scenarios, with working configs aimed at this module's simulator."""
        scenarios = []
        for scenario in super().get_scenarios():
            config = scenario.get_config_dict(connector_root=ROOT, empty_if_missing=True)
            if scenario.status != "failed":
                config = {**config, "url": _SIMULATOR.base_url}
            scenarios.append(scenario.model_copy(update={"config_dict": config}))
        return scenarios

    # The image tests need Docker, which CI does not have; the Dockerfile is built at release.
    test_docker_image_build_and_spec = None
    test_docker_image_spec_backward_compatibility = None
    test_docker_image_build_and_check = None
    test_docker_image_build_and_config_matches_spec = None
    test_docker_image_build_and_discover = None
    test_docker_image_build_and_read = None


EXPECTED = Path(__file__).parent / "expected_records.jsonl"
EXTRACTION_ID = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z-[0-9a-f]{8}")


def _read_sample() -> list[dict]:
    """The records of a full-refresh read of every stream with the sample config."""
    config = {**json.loads((ROOT / "integration_tests" / "sample_config.json").read_text())}
    config["url"] = _SIMULATOR.base_url
    catalog = ConfiguredAirbyteCatalogSerializer.load(
        json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text())
    )
    for stream in catalog.streams:
        stream.sync_mode = SyncMode.full_refresh
    output = read(SourceKubecost(), config, catalog)
    records = [{"stream": m.record.stream, "data": m.record.data} for m in output.records]
    for record in records:  # new at every read; its format is checked here
        extraction = record["data"].pop("extraction_id", None)
        assert extraction is None or EXTRACTION_ID.fullmatch(extraction), extraction
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


def test_given_sample_config_when_read_then_records_equal_expected_records() -> None:
    """expected_records.jsonl was written by this read (seeded simulator, fixed clock)."""
    expected = [json.loads(line) for line in EXPECTED.read_text().splitlines()]
    assert _read_sample() == expected
