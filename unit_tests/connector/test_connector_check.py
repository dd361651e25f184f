"""`check` tells apart the ways a connection fails, and each message says what to fix."""

from __future__ import annotations

import logging

import pytest
import requests
import requests_mock

from source_kubecost import SourceKubecost

URL = "http://kubecost.test:9090"
OK = {"json": {"code": 200, "status": "success", "data": {"id": "c1"}}}


def _check(responses: dict[str, dict], **config) -> tuple[str, str | None]:
    with requests_mock.Mocker() as mocker:
        for path, response in responses.items():
            mocker.get(f"{URL}{path}", **response)
        status = SourceKubecost().check(
            logging.getLogger("test"), {"url": URL, "start_date": "2024-05-01", **config}
        )
    return status.status.value, status.message


@pytest.mark.parametrize(
    ("responses", "config", "phrase"),
    [
        (
            {
                "/model/clusterInfo": {
                    "exc": requests.exceptions.ConnectionError("Connection refused")
                }
            },
            {"flavour": "kubecost"},
            "Cannot reach http://kubecost.test:9090/model/clusterInfo (connection refused)",
        ),
        (
            {
                "/model/clusterInfo": {
                    "exc": requests.exceptions.SSLError("certificate verify failed")
                }
            },
            {"flavour": "kubecost"},
            "TLS verification failed",
        ),
        (
            {"/model/clusterInfo": {"status_code": 401, "text": "<html>401</html>"}},
            {"flavour": "kubecost"},
            "refused the credentials (HTTP 401)",
        ),
        (
            {
                "/model/clusterInfo": {
                    "status_code": 302,
                    "headers": {"Location": "/login?redirect=x"},
                }
            },
            {"flavour": "kubecost"},
            "single sign-on login page",
        ),
        (
            {
                "/model/clusterInfo": {
                    "status_code": 200,
                    "text": "<!doctype html><html>UI</html>",
                },
                "/clusterInfo": {"status_code": 404, "text": "404 page not found"},
            },
            {},
            "does not look like the Kubecost or OpenCost API",
        ),
        (
            {"/model/clusterInfo": {"status_code": 404, "text": "not found"}},
            {"flavour": "kubecost"},
            "does not look like the Kubecost or OpenCost API",
        ),
    ],
    ids=["unreachable", "tls", "credentials", "sso", "html-page", "not-found"],
)
def test_given_a_broken_connection_when_check_then_failed_with_the_fix(
    responses, config, phrase
) -> None:
    status, message = _check(responses, **config)
    assert status == "FAILED"
    assert phrase in message


def test_given_opencost_without_model_prefix_when_check_auto_then_succeeded() -> None:
    status, message = _check(
        {
            "/model/clusterInfo": {"status_code": 404, "text": "404 page not found"},
            "/clusterInfo": OK,
        }
    )
    assert (status, message) == ("SUCCEEDED", None)


def test_given_kubecost_when_check_then_succeeded_with_one_request() -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{URL}/model/clusterInfo", **OK)
        status = SourceKubecost().check(
            logging.getLogger("test"),
            {"url": URL, "flavour": "kubecost", "start_date": "2024-05-01"},
        )
        assert mocker.call_count == 1
    assert status.status.value == "SUCCEEDED"
