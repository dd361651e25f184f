"""Opening ClickHouse: every command says in one line why it cannot, and hides the password.

Against the chDB-backed ClickHouse HTTP server of the tests (`clickhouse_server`): a wrong
password, nothing listening, and TLS spoken to a plain port (or plain HTTP to a TLS port)
each end `sql`, `sync`, `transform`, `project` and `run` with one clear line.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from kubecost_pipeline.cli import main

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
) -> None:
    """Every log record and progress step goes to stderr, one JSON object a line off a
    terminal: the failure is one error line, with no traceback and no password anywhere."""
    make_url, phrase = FAILURES[failure]

    code = main(command(name, make_url(clickhouse_server), tmp_path))

    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.err.splitlines()]
    errors = [e["message"] for e in events if e.get("level") in ("error", "critical")]
    assert code != 0
    assert len(errors) == 1, events
    assert phrase in errors[0], errors
    assert "\n" not in errors[0]
    assert WRONG_PASSWORD not in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err


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
    (line,) = done.stderr.splitlines()
    event = json.loads(line)
    assert (event["stage"], event["level"]) == ("run", "error")
    assert event["message"] == (
        f"ClickHouse at http://{clickhouse_server.user}:***@127.0.0.1:"
        f"{clickhouse_server.port}/ refused user '{clickhouse_server.user}': wrong user or "
        "password. Fix the user and password in the ClickHouse URL."
    )
