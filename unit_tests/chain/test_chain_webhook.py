"""The Airbyte success-webhook receiver: secret check, filtering, no overlapping runs, and
its edges (malformed requests, TLS on the plain port, huge or deep bodies, bursts)."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from kubecost_pipeline.webhook import PATH, make_server

SECRET = "webhook-test-shared-secret"
CONNECTION = "3f1c2d3e-0000-4000-8000-000000000001"


def _success(connection_id: str = CONNECTION, success: bool = True) -> dict:
    return {"data": {"connection": {"id": connection_id, "name": "kubecost"}, "success": success}}


class Receiver:
    def __init__(self, job) -> None:
        self.server, self.runner = make_server(("127.0.0.1", 0), SECRET, [CONNECTION], job)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{PATH}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def post(self, body: object, token: str | None = SECRET, raw: bytes | None = None):
        url = self.url + (f"?token={token}" if token is not None else "")
        data = raw if raw is not None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def receiver(calls: list[str]) -> Iterator[Receiver]:
    r = Receiver(calls.append)
    yield r
    r.server.shutdown()


def test_given_success_for_configured_connection_when_posted_then_job_runs(receiver, calls):
    assert receiver.post(_success()) == (202, {"status": "started"})
    assert receiver.runner.idle.wait(5)
    assert calls == [CONNECTION]


@pytest.mark.parametrize("token", [None, "wrong-secret"])
def test_given_bad_token_when_posted_then_401_and_nothing_runs(receiver, calls, token):
    status, _ = receiver.post(_success(), token=token)
    assert status == 401
    assert calls == []


def test_given_bearer_header_when_posted_then_accepted(receiver, calls):
    request = urllib.request.Request(
        receiver.url,
        data=json.dumps(_success()).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
    assert receiver.runner.idle.wait(5)
    assert calls == [CONNECTION]


@pytest.mark.parametrize(
    "body, reason",
    [
        (_success(success=False), "not a success"),
        (_success(connection_id="another-connection"), "connection not configured"),
    ],
)
def test_given_failed_or_foreign_sync_when_posted_then_ignored(receiver, calls, body, reason):
    assert receiver.post(body) == (200, {"status": "ignored", "reason": reason})
    assert calls == []


def test_given_garbage_body_when_posted_then_400(receiver, calls):
    status, body = receiver.post(None, raw=b"<html>not json</html>")
    assert status == 400
    assert "not Airbyte JSON" in body["error"]


def test_given_run_in_progress_when_more_arrive_then_one_coalesced_rerun():
    release = threading.Event()
    started = threading.Event()
    calls: list[str] = []

    def slow_job(connection_id: str) -> None:
        calls.append(connection_id)
        started.set()
        release.wait(10)

    r = Receiver(slow_job)
    try:
        assert r.post(_success())[1] == {"status": "started"}
        assert started.wait(5)
        assert r.post(_success())[1] == {"status": "queued"}
        assert r.post(_success())[1] == {"status": "queued"}
        release.set()
        assert r.runner.idle.wait(10)
        assert calls == [CONNECTION, CONNECTION]  # never concurrent, never lost
    finally:
        r.server.shutdown()


def test_given_failing_job_when_run_then_receiver_keeps_serving():
    def failing(connection_id: str) -> None:
        raise RuntimeError("dbt build failed")

    r = Receiver(failing)
    try:
        r.post(_success())
        assert r.runner.idle.wait(5)
        assert r.runner.failures == 1
        assert r.post(_success())[0] == 202
    finally:
        r.server.shutdown()


def test_given_no_secret_when_built_then_clear_error():
    with pytest.raises(ValueError, match="KUBECOST_PIPELINE__WEBHOOK__SECRET"):
        make_server(("127.0.0.1", 0), "", [CONNECTION], print)


# ---- at the edges: whatever arrives gets an answer, bounded work, no traceback -------------


def _raw(receiver: Receiver, data: bytes) -> bytes:
    """Send bytes on a plain socket; what the receiver answers before closing."""
    port = receiver.server.server_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _tls_client_hello() -> bytes:
    """The first bytes a TLS client sends (someone using https:// on the plain port)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        f"POST {PATH}?token={SECRET} HTTP/1.1 and more\r\n\r\n".encode(),
        b"\x00\xff\xfe\r\n\r\n",
        _tls_client_hello(),
    ],
    ids=["garbage", "malformed-with-token", "binary", "tls-handshake"],
)
def test_given_a_malformed_request_or_tls_when_received_then_400_and_one_log_line(
    receiver, calls, caplog, capfd, data
):
    with caplog.at_level(logging.INFO, logger="kubecost_pipeline.webhook"):
        answer = _raw(receiver, data)
    assert b"400" in answer
    assert SECRET not in answer.decode(errors="replace")
    logged = [r for r in caplog.records if r.name == "kubecost_pipeline.webhook"]
    assert [r.levelname for r in logged] == ["WARNING"]
    assert SECRET not in caplog.text and "Traceback" not in capfd.readouterr().err
    assert calls == []


def test_given_a_50_mb_body_announced_when_posted_then_413_without_reading_it(receiver, calls):
    head = (
        f"POST {PATH}?token={SECRET} HTTP/1.1\r\nHost: x\r\nContent-Length: {50 * 2**20}\r\n\r\n"
    ).encode()
    answer = _raw(receiver, head + b'{"data": ')  # the rest never comes: nothing waits for it
    assert answer.startswith(b"HTTP/1.0 413")
    assert calls == []


def test_given_a_chunked_body_when_posted_then_411(receiver, calls):
    head = f"POST {PATH}?token={SECRET} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert _raw(receiver, head.encode() + b"2\r\n{}\r\n0\r\n\r\n").startswith(b"HTTP/1.0 411")
    assert calls == []


@pytest.mark.parametrize("depth", [2_000, 500_000])
def test_given_a_deeply_nested_body_when_posted_then_400_not_recursion_error(
    receiver, calls, caplog, depth
):
    body = b'{"data": ' + b"[" * depth + b"]" * depth + b"}"
    status, answer = receiver.post(None, raw=body)
    assert (status, answer) == (400, {"error": "body is not Airbyte JSON"})
    assert "RecursionError" not in caplog.text and calls == []


def test_given_a_burst_of_50_notifications_when_posted_at_once_then_every_one_is_answered(
    receiver, calls
):
    start = threading.Barrier(50)

    def notify(_: int) -> int | str:
        start.wait()
        try:
            return receiver.post(_success())[0]
        except OSError as error:  # a reset connection: Airbyte would not send it again
            return repr(error)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(notify, range(50)))
    assert answers == [202] * 50
    assert receiver.runner.idle.wait(10)
    assert 1 <= len(calls) <= 50 and set(calls) == {CONNECTION}
