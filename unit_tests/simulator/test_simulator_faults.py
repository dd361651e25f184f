"""Injected faults and authentication answer like the real thing, on schedule."""

from __future__ import annotations

import json

import pytest
import requests
from simulator_helpers import WINDOW

from kubecost_pipeline.simulator import Fault, SimulatorServer
from kubecost_pipeline.simulator.faults import parse_fault

PARAMS = {"window": WINDOW, "aggregate": "cluster,namespace", "accumulate": "true"}


@pytest.fixture
def k1(fleet):
    with SimulatorServer(fleet, flavour="kubecost1") as server:
        yield server


def call(server: SimulatorServer, path: str = "/allocation", **kwargs) -> requests.Response:
    params = PARAMS if path == "/allocation" else {"window": WINDOW}
    return requests.get(server.api_url + path, params=params, **{"timeout": 30, **kwargs})


@pytest.mark.parametrize(
    ("kind", "title"),
    [
        ("502", "502 Bad Gateway"),
        ("503", "503 Service Temporarily Unavailable"),
        ("504", "504 Gateway Time-out"),
    ],
)
def test_given_gateway_faults_then_nginx_html_pages(k1, kind, title):
    k1.faults.add(Fault(kind=kind, times=1))
    r = call(k1)
    assert r.status_code == int(kind) and r.headers["Content-Type"] == "text/html"
    assert f"<title>{title}</title>" in r.text and "<center>nginx</center>" in r.text
    assert call(k1).status_code == 200


def test_given_500_then_kubecost_json_error(k1):
    k1.faults.add(Fault(kind="500", times=1))
    r = call(k1)
    assert r.status_code == 500
    assert r.json() == {
        "code": 500,
        "status": "",
        "data": None,
        "message": "Error: error computing allocations: simulated failure",
    }


def test_given_429_then_retry_after(k1):
    k1.faults.add(Fault(kind="429", times=1, retry_after=7))
    r = call(k1)
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"


def test_given_code_inside_http_200_then_the_body_says_so(k1):
    k1.faults.add(Fault(kind="code", times=1, code=503))
    r = call(k1)
    assert r.status_code == 200 and r.json()["code"] == 503 and r.json()["data"] is None


def test_given_slow_then_a_short_read_timeout_fails_and_a_patient_client_gets_the_data(k1):
    k1.faults.add(Fault(kind="slow", times=2, delay=1.0))
    with pytest.raises(requests.ReadTimeout):
        call(k1, timeout=0.2)
    assert call(k1).json()["code"] == 200


def test_given_timeout_then_the_connection_closes_without_an_answer(k1):
    k1.faults.add(Fault(kind="timeout", times=2, delay=0.3))
    with pytest.raises(requests.ReadTimeout):
        call(k1, timeout=0.1)
    with pytest.raises(requests.ConnectionError):
        call(k1)
    assert call(k1).status_code == 200


def test_given_reset_then_the_client_sees_a_connection_error(k1):
    k1.faults.add(Fault(kind="reset", times=1))
    with pytest.raises(requests.ConnectionError):
        call(k1)
    assert call(k1).status_code == 200


def test_given_truncated_then_http_200_with_a_prefix_of_the_json(k1):
    whole = call(k1).text
    k1.faults.add(Fault(kind="truncated", times=1))
    r = call(k1)
    assert r.status_code == 200 and 0 < len(r.text) < len(whole) and whole.startswith(r.text)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


@pytest.mark.parametrize(
    ("kind", "field"), [("nan", "cpuEfficiency"), ("null", "cpuCostAdjustment")]
)
def test_given_null_faults_then_some_records_have_null_floats(k1, kind, field):
    k1.faults.add(Fault(kind=kind, times=1))
    rows = call(k1).json()["data"][0]
    values = [a[field] for a in rows.values()]
    assert None in values and any(v is not None for v in values)
    assert all(a["totalCost"] is not None for a in rows.values())


def test_given_empty_then_sets_are_empty(fleet):
    with SimulatorServer(fleet, flavour="opencost") as server:
        server.faults.add(Fault(kind="empty", times=2))
        assert call(server).json() == {"code": 200, "status": "success", "data": [{}]}
        assert call(server, "/assets").json()["data"] == {}
        assert call(server).json()["data"][0]


def test_given_a_schedule_then_faults_fire_on_the_requests_it_names(k1):
    k1.faults.add(Fault(kind="503", after=1, times=2, path="/model/allocation"))
    assert [call(k1).status_code for _ in range(4)] == [200, 503, 503, 200]
    k1.faults.clear()
    k1.faults.add(Fault(kind="500", path="/model/assets"))
    assert call(k1).status_code == 200 and call(k1, "/assets").status_code == 500


def test_given_a_rate_then_the_same_requests_fail_every_run(fleet):
    runs = []
    for _ in range(2):
        with SimulatorServer(fleet, flavour="opencost") as server:
            server.faults.add(Fault(kind="503", rate=0.5, seed=3, path="/model/allocation"))
            runs.append([call(server).status_code for _ in range(12)])
    assert runs[0] == runs[1] and {200, 503} == set(runs[0])


def test_given_an_unknown_fault_then_the_error_lists_the_kinds():
    with pytest.raises(ValueError, match=r"unknown fault kind '418'; choose one of: 500 \("):
        Fault(kind="418")
    with pytest.raises(ValueError, match="rate must be between 0 and 1, got 2"):
        Fault(kind="500", rate=2)


@pytest.mark.parametrize(
    ("auth", "good", "bad"),
    [
        (("basic", "ann", "s3cret"), {"auth": ("ann", "s3cret")}, {"auth": ("ann", "nope")}),
        (
            ("bearer", "tok"),
            {"headers": {"Authorization": "Bearer tok"}},
            {"headers": {"Authorization": "Bearer other"}},
        ),
        (("cookie", "tok"), {"cookies": {"token": "tok"}}, {"cookies": {"token": "other"}}),
    ],
)
def test_given_auth_then_only_the_right_credentials_pass(fleet, auth, good, bad):
    with SimulatorServer(fleet, flavour="kubecost2", auth=auth) as server:
        missing, wrong, right = call(server), call(server, **bad), call(server, **good)
        truth = requests.get(server.base_url + "/truth", params={"window": WINDOW})
    assert missing.status_code == 401 and "<center>nginx</center>" in missing.text
    assert wrong.status_code == (401 if auth[0] == "basic" else 403)
    assert right.status_code == 200 and right.json()["code"] == 200
    assert truth.status_code == 200  # the test oracle needs no credentials
    if auth[0] == "basic":
        assert missing.headers["WWW-Authenticate"] == 'Basic realm="Kubecost"'


def test_given_a_server_never_started_then_stop_returns(fleet):
    SimulatorServer(fleet).stop()


def test_given_sso_then_unauthenticated_calls_redirect_to_an_html_login_page(fleet):
    with SimulatorServer(fleet, flavour="kubecost2", auth=("sso_redirect", "jwt")) as server:
        r = call(server, allow_redirects=False)
        followed = call(server, cookies={"token": "bad"})
        ok = [
            call(server, cookies={"token": "jwt"}),
            call(server, headers={"Authorization": "Bearer jwt"}),
        ]
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?redirect=")
    assert followed.status_code == 200 and followed.headers["Content-Type"] == "text/html"
    assert "Sign in to Kubecost" in followed.text
    with pytest.raises(json.JSONDecodeError):
        json.loads(followed.text)
    assert [x.json()["code"] for x in ok] == [200, 200]


@pytest.mark.parametrize("auth", [("basic", "only-user"), ("oauth", "s3cret"), "s3cret"])
def test_given_a_bad_auth_spec_or_flavour_then_a_clear_error_without_the_secret(fleet, auth):
    with pytest.raises(ValueError, match="invalid simulator auth") as error:
        SimulatorServer(fleet, auth=auth)
    assert "s3cret" not in str(error.value) and "only-user" not in str(error.value)
    with pytest.raises(ValueError, match="unknown simulator flavour 'kubecost3'; choose one of"):
        SimulatorServer(fleet, flavour="kubecost3")


def test_given_a_fault_header_then_only_that_request_fails(k1):
    r = call(k1, headers={"X-Simulator-Fault": "429:retry_after=9"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "9"
    assert call(k1).status_code == 200
    bad = call(k1, headers={"X-Simulator-Fault": "503:times=x"})
    assert bad.status_code == 400 and "times takes an integer" in bad.json()["message"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("418", "unknown fault kind '418'"),
        ("503:tims=2", "bad fault option 'tims=2'"),
        ("slow:delay=", "bad fault option 'delay='"),
    ],
)
def test_given_a_bad_fault_spec_then_the_error_names_it(text, message):
    with pytest.raises(ValueError, match=message):
        parse_fault(text)
    assert parse_fault("slow:delay=0.5,path=/model/assets,rate=0.25").delay == 0.5
