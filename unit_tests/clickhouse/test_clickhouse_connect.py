"""Opening ClickHouse: every command says in one line why it cannot, and hides the password.

Against the chDB-backed ClickHouse HTTP server of the tests (`clickhouse_server`): a wrong
password, nothing listening, and TLS spoken to a plain port (or plain HTTP to a TLS port)
each end `sql`, `sync`, `transform`, `project` and `run` with one clear line.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from kubecost_pipeline.cli import main
from kubecost_pipeline.clickhouse import ClickHouseUnavailable, ClickHouseURL, connect

WRONG_PASSWORD = "not-the-password"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


FAILURES = {  # name -> (URL of the server, the phrase the one line must hold)
    "wrong-password": (
        lambda s: s.url(password=WRONG_PASSWORD),
        "refused user 'pipeline': wrong user or password",
    ),
    "unreachable": (
        lambda s: f"http://pipeline:{WRONG_PASSWORD}@127.0.0.1:{closed_port()}/",
        "Nothing accepts connections at 127.0.0.1:",
    ),
    "tls-to-plain-port": (
        lambda s: s.url(password=WRONG_PASSWORD, scheme="https"),
        "TLS handshake with 127.0.0.1:",
    ),
}


def command(name: str, url: str, tmp_path: Path) -> list[str]:
    config = tmp_path / "source.json"
    config.write_text("{}")
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(f'[source]\nurl = "http://127.0.0.1:9"\n[clickhouse]\nurl = "{url}"\n')
    return {
        "sql": ["sql", "select 1", "--clickhouse-url", url],
        "sync": ["sync", "--config", str(config), "--clickhouse-url", url],
        "transform": ["transform", "--clickhouse-url", url],
        "project": [
            *("project", "--marts-url", url, "--mongodb-uri", "mongodb://127.0.0.1:9/"),
            *("--mysql-url", "mysql://root@127.0.0.1:3306/cloudtuner"),
            *("--cluster-account", f"prod={uuid.uuid4()}"),
        ],
        "run": ["run", "--config", str(pipeline), "--quiet"],
    }[name]


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("name", ["sql", "sync", "transform", "project", "run"])
def test_given_clickhouse_unusable_when_a_command_runs_then_one_clear_line(
    name: str,
    failure: str,
    clickhouse_server: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_url, phrase = FAILURES[failure]

    with caplog.at_level(logging.INFO):
        code = main(command(name, make_url(clickhouse_server), tmp_path))

    captured = capsys.readouterr()
    said = [*captured.out.splitlines(), *captured.err.splitlines()]
    said += [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert code != 0
    assert [line for line in said if phrase in line], said
    assert len([line for line in said if "ClickHouse" in line or "127.0.0.1" in line]) == 1, said
    assert not [line for line in said if WRONG_PASSWORD in line or "Traceback" in line], said


def test_given_a_wrong_password_when_the_cli_runs_then_stderr_is_one_line(
    clickhouse_server: Any,
) -> None:
    url = clickhouse_server.url(password=WRONG_PASSWORD)

    done = subprocess.run(
        [sys.executable, "-m", "kubecost_pipeline.cli", "sql", "select 1", "--clickhouse-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"kubecost-pipeline: ClickHouse at http://{clickhouse_server.user}:***@127.0.0.1:"
        f"{clickhouse_server.port}/ refused user '{clickhouse_server.user}': wrong user or "
        "password. Fix the user and password in the ClickHouse URL.\n"
    )


def test_given_a_tls_server_then_plain_http_and_an_untrusted_certificate_are_explained(
    start_clickhouse_server: Any,
) -> None:
    server = start_clickhouse_server(tls=True)
    with pytest.raises(ClickHouseUnavailable, match="closed the connection without an HTTP"):
        connect(server.url(scheme="http"))
    with pytest.raises(
        ClickHouseUnavailable, match=r"certificate of 127\.0\.0\.1:\d+ is not trusted"
    ):
        connect(server.url())
    trusted = connect(server.url(), ca_cert=str(server.certificate))
    assert trusted.command("SELECT 1") == 1
    trusted.close()


def test_given_https_on_any_port_then_the_client_speaks_tls(
    clickhouse_server: Any,
) -> None:
    # clickhouse-connect's own DSN parsing would speak plain HTTP to https://host:<port>
    # unless the port is 443 or 8443: a plain server answering proves TLS was not used.
    with pytest.raises(ClickHouseUnavailable, match="TLS handshake"):
        connect(clickhouse_server.url(scheme="https"))


def test_given_a_server_then_queries_sessions_settings_and_inserts_work(
    clickhouse_server: Any,
) -> None:
    import datetime as dt
    from decimal import Decimal

    client = connect(clickhouse_server.url())
    db = f"t_{uuid.uuid4().hex[:8]}"
    try:
        client.command(f"CREATE DATABASE {db}")
        client.command(
            f"CREATE TABLE {db}.t (k String, v Decimal(38, 9), a DateTime64(3), "
            "n Nullable(Int64), c LowCardinality(String)) ENGINE = MergeTree ORDER BY k"
        )
        rows = [
            ["a", "1.5", dt.datetime(2026, 1, 1), None, "x"],
            ["b", "2", dt.datetime(2026, 1, 2), 7, "y"],
        ]
        types = ["String", "String", "DateTime64(3)", "Nullable(Int64)", "LowCardinality(String)"]
        client.insert("t", rows, database=db, column_names=list("kvanc"), column_type_names=types)
        got = client.query(
            "SELECT * FROM {db:Identifier}.t WHERE k = {k:String}", parameters={"db": db, "k": "b"}
        ).result_rows
        assert got == [("b", Decimal("2"), dt.datetime(2026, 1, 2), 7, "y")]
        with client.query_row_block_stream(f"SELECT k FROM {db}.t ORDER BY k") as stream:
            assert [row for block in stream for row in block] == [("a",), ("b",)]
        # a setting of one query does not outlive it; a SET lasts for the session
        assert client.command("SELECT getSetting('max_threads')", settings={"max_threads": 3}) == 3
        client.command("SET max_threads = 5")
        assert client.command("SELECT getSetting('max_threads')") == 5
        with pytest.raises(Exception, match=r"Code: 60\..*UNKNOWN_TABLE.*\(version "):
            client.query(f"SELECT * FROM {db}.missing")
    finally:
        client.command(f"DROP DATABASE IF EXISTS {db}")
        client.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ch.example/k8s", ("https", "ch.example", 8443, "default", "", "k8s")),
        ("http://u:p%40ss@h:9000", ("http", "h", 9000, "u", "p@ss", None)),
    ],
)
def test_given_urls_then_parsed_with_default_ports_and_decoded_credentials(url, expected):
    parsed = ClickHouseURL.parse(url)

    got = (parsed.scheme, parsed.host, parsed.port, parsed.user, parsed.password, parsed.database)
    assert got == expected
    assert "p@ss" not in repr(parsed) + str(parsed)


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("postgres://h", "Unsupported ClickHouse URL"),
        ("chdb://relative/dir", "needs an absolute directory"),
        ("http://u:pw@h:99999", "cannot be parsed"),
    ],
)
def test_given_unusable_urls_then_the_error_says_what_to_write(url, phrase):
    with pytest.raises(ClickHouseUnavailable, match=phrase) as failed:
        ClickHouseURL.parse(url)
    assert "pw" not in str(failed.value)
