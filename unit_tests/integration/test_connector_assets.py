"""Mock-server tests of the assets stream: Kubecost's list of sets and OpenCost's single map."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from unittest import TestCase

import freezegun
from airbyte_cdk.models import FailureType
from airbyte_cdk.test.mock_http import HttpResponse
from connector_builders import ConfigBuilder, KubecostRequestBuilder, read_stream, template
from mock_server import MockServer

_STREAM_NAME = "assets"
_NOW = datetime(2024, 5, 2, 3, 0, tzinfo=UTC)
_A_START_DATE = "2024-05-01"
_NODE = "GCP/__undefined__/proj/Compute/c1/Node/Kubernetes/gce://proj/node-a/node-a"


def _config(flavour: str = "kubecost"):
    return ConfigBuilder().with_start_date(_A_START_DATE).with_values(flavour=flavour).build()


@freezegun.freeze_time(_NOW.isoformat())
class IncrementalTest(TestCase):
    @MockServer()
    def test_given_kubecost_list_of_sets_when_read_then_node_and_disk_flattened(
        self, mock_server: MockServer
    ) -> None:
        request = KubecostRequestBuilder.assets_endpoint().with_window("2024-05-01").build()
        mock_server.get(request, HttpResponse(json.dumps(template("assets"))))
        output = read_stream(_STREAM_NAME, _config())
        records = {r.record.data["type"]: r.record.data for r in output.records}
        node = records["Node"]
        assert node["key"] == _NODE and node["window_start"] == "2024-05-01T00:00:00Z"
        assert (node["cluster"], node["name"], node["category"]) == ("c1", "node-a", "Compute")
        assert (node["nodeType"], node["preemptible"], node["discount"]) == (
            "e2-standard-4",
            1.0,
            0.3,
        )
        assert (node["cpuCost"], node["ramCost"], node["adjustment"]) == (2.4, 0.6, -0.05)
        assert node["labels"]["cloud_google_com_gke_spot"] == "true"
        assert records["Disk"]["bytes"] == 10737418240.0
        assert output.most_recent_state.stream_state.window_start == "2024-05-01T00:00:00Z"

    @MockServer()
    def test_given_opencost_single_map_when_read_then_same_records(
        self, mock_server: MockServer
    ) -> None:
        body = template("assets")
        body["data"] = body["data"][0]
        request = KubecostRequestBuilder.assets_endpoint("").with_window("2024-05-01").build()
        mock_server.get(request, HttpResponse(json.dumps(body)))
        output = read_stream(_STREAM_NAME, _config("opencost"))
        assert sorted(r.record.data["type"] for r in output.records) == ["Disk", "Node"]

    @MockServer()
    def test_given_403_when_read_then_config_error(self, mock_server: MockServer) -> None:
        request = KubecostRequestBuilder.assets_endpoint().with_window("2024-05-01").build()
        mock_server.get(request, HttpResponse('{"code":403}', 403))
        output = read_stream(_STREAM_NAME, _config(), expecting_exception=True)
        assert output.errors[0].trace.error.failure_type == FailureType.config_error
