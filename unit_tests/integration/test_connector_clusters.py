"""Mock-server tests of the clusters stream (full refresh)."""

from __future__ import annotations

import json
from unittest import TestCase

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpResponse
from connector_builders import ConfigBuilder, KubecostRequestBuilder, read_stream, template
from mock_server import MockServer

_STREAM_NAME = "clusters"


def _get(mock_server: MockServer, path: str, response: HttpResponse) -> None:
    mock_server.get(KubecostRequestBuilder.endpoint(path).build(), response)


class FullRefreshTest(TestCase):
    @MockServer()
    def test_given_cluster_info_and_currency_when_read_then_one_record_with_currency(
        self, mock_server: MockServer
    ) -> None:
        _get(mock_server, "/model/clusterInfo", HttpResponse(json.dumps(template("clusters"))))
        _get(mock_server, "/model/clusterInfoMap", HttpResponse("{}", 404))
        _get(
            mock_server,
            "/model/getConfigs",
            HttpResponse(json.dumps({"code": 200, "data": {"currencyCode": "EUR"}})),
        )
        _get(
            mock_server,
            "/model/installInfo",
            HttpResponse(json.dumps({"code": 200, "data": {"version": "2.4.1", "containers": []}})),
        )
        output = read_stream(_STREAM_NAME, ConfigBuilder().build(), mode=SyncMode.full_refresh)
        [record] = [r.record.data for r in output.records]
        assert record["id"] == "c1" and record["name"] == "prod-eu"
        assert (record["provider"], record["region"], record["version"]) == (
            "GCP",
            "europe-west1",
            "1.29+",
        )
        assert record["profile"] == "production" and record["currency"] == "EUR"
        assert record["kubecostVersion"] == "2.4.1"  # Kubecost's; `version` is Kubernetes'

    @MockServer()
    def test_given_cluster_map_of_a_federated_install_when_read_then_every_cluster(
        self, mock_server: MockServer
    ) -> None:
        _get(mock_server, "/model/clusterInfo", HttpResponse(json.dumps(template("clusters"))))
        clusters = {
            "c1": {"id": "c1", "name": "prod-eu", "provider": "GCP"},
            "c2": {"id": "c2", "name": "prod-us", "provider": "AWS", "region": "us-east-1"},
        }
        _get(
            mock_server,
            "/model/clusterInfoMap",
            HttpResponse(json.dumps({"code": 200, "data": clusters})),
        )
        _get(mock_server, "/model/getConfigs", HttpResponse("<html>not found</html>", 404))
        _get(mock_server, "/model/installInfo", HttpResponse("<html>not found</html>", 404))
        output = read_stream(_STREAM_NAME, ConfigBuilder().build(), mode=SyncMode.full_refresh)
        records = {r.record.data["id"]: r.record.data for r in output.records}
        assert sorted(records) == ["c1", "c2"]
        assert records["c2"]["region"] == "us-east-1" and records["c1"]["version"] == "1.29+"
        assert "currency" not in records["c1"]  # null: the server does not report it
        assert "kubecostVersion" not in records["c1"]
