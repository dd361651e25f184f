"""A Kubecost behind TLS with a private CA: the custom CA certificate is trusted, in the sync
process and in the day workers, and leaves no file behind; without it, TLS fails with a
config error that says what to add."""

from __future__ import annotations

import datetime
import json
import ssl
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from connector_builders import run_in_process

DAY = {"code": 200, "data": [{"c1/__idle__": {"name": "c1/__idle__", "totalCost": 1.5}}]}


def _certificate(subject: str, key, issuer=None, issuer_key=None, ca: bool = False):
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    # The extensions a real CA sets: Python 3.13 verifies strictly (VERIFY_X509_STRICT).
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key((issuer_key or key).public_key()),
        critical=False,
    )
    if ca:
        usage = dict.fromkeys(
            (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        builder = builder.add_extension(
            x509.KeyUsage(**usage, key_cert_sign=True, crl_sign=True), critical=True
        )
    else:
        san = x509.SubjectAlternativeName([x509.DNSName("localhost")])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture(scope="module")
def kubecost(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """An https Kubecost on localhost, its certificate signed by a private CA: (url, CA)."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test CA", ca_key, ca=True)
    server_cert = _certificate("localhost", key, ca.subject, ca_key)
    pem = serialization.Encoding.PEM
    (folder / "server.pem").write_bytes(
        server_cert.public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(DAY if "/allocation" in self.path else {"code": 200, "data": {}})
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}", ca.public_bytes(pem).decode()
    server.shutdown()


def _run(verb: str, tmp_path: Path, config: dict) -> list[dict]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    stream = {"name": "allocations", "json_schema": {}, "supported_sync_modes": ["incremental"]}
    catalog = {
        "streams": [
            {"stream": stream, "sync_mode": "incremental", "destination_sync_mode": "append"}
        ]
    }
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    args = [verb, "--config", str(tmp_path / "config.json")]
    if verb == "read":
        args += ["--catalog", str(tmp_path / "catalog.json")]
    output = run_in_process(args, tmp_path / "out.jsonl", expecting_exception=True)
    return [json.loads(line) for line in output.lines]  # type: ignore[attr-defined]


def test_given_the_private_ca_when_check_and_read_then_trusted_and_no_file_left(
    kubecost, tmp_path, monkeypatch
) -> None:
    url, ca = kubecost
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    config = {"url": url, "flavour": "kubecost", "start_date": "2024-05-01"}
    config |= {"end_date": "2024-05-01", "ca_certificate": ca}
    [status] = [m for m in _run("check", tmp_path, config) if m["type"] == "CONNECTION_STATUS"]
    assert status["connectionStatus"]["status"] == "SUCCEEDED", status
    messages = _run("read", tmp_path, config)  # the day is read in a day worker
    records = [m["record"]["data"] for m in messages if m["type"] == "RECORD"]
    assert [r["name"] for r in records] == ["c1/__idle__"]
    assert [p for p in temp.rglob("*") if p.is_file()] == []


def test_given_no_ca_when_check_then_tls_config_error_says_what_to_add(kubecost, tmp_path) -> None:
    url, _ = kubecost
    config = {"url": url, "flavour": "kubecost", "start_date": "2024-05-01"}
    [status] = [m for m in _run("check", tmp_path, config) if m["type"] == "CONNECTION_STATUS"]
    assert status["connectionStatus"]["status"] == "FAILED"
    assert "TLS verification failed" in status["connectionStatus"]["message"]
    assert "Custom CA certificate" in status["connectionStatus"]["message"]
