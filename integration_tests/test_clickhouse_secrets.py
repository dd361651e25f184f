"""A ClickHouse password given in a URL stays out of every file a run writes and out of the
command lines of the processes it starts.

dbt records its command line (`invocation_command`) in dbt.log and run_results.json; the
password reaches dbt only as DBT_ENV_SECRET_CLICKHOUSE_PASSWORD, whose value dbt scrubs, and
the command line dbt sees has the password redacted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "kubecost_pipeline.cli"]
PROJECT = {
    "dbt_project.yml": 'name: tiny\nversion: "1.0"\nconfig-version: 2\nprofile: tiny\n',
    "seeds/costs.csv": "day,cost\n2026-01-01,1.5\n2026-01-02,2.5\n",
    "models/total.sql": "{{ config(materialized='table', order_by='tuple()') }}\n"
    "select sum(cost) as cost from {{ ref('costs') }}",
    "models/broken.sql": "select no_such_column from {{ ref('costs') }}",  # an error logged
}
RECORDER = """
import json, os, sys
with open(os.environ["ARGV_LOG"], "a") as log:
    log.write(json.dumps(sys.argv) + "\\n")
os.execv(sys.executable, [sys.executable, sys.argv[1], *sys.argv[2:]])
"""


def secrets_in(tree: Path, secrets: list[str]) -> list[str]:
    found = []
    for path in tree.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {s}" for s in secrets if s.encode() in data]
    return found


def test_given_a_password_in_the_url_when_sync_and_transform_run_then_it_is_nowhere(
    clickhouse_server: Any, tmp_path: Path
) -> None:
    password = clickhouse_server.password
    secrets = [password, quote(password, safe=""), "s3cret"]
    url = clickhouse_server.url()
    project = tmp_path / "project"
    for name, text in PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "ARGV_LOG": str(tmp_path / "argv.jsonl"),
    }
    config = tmp_path / "source.json"
    config.write_text(json.dumps({"days": ["2026-01-01"], "per_day": 2}))
    recorder = tmp_path / "recorder.py"
    recorder.write_text(RECORDER)
    fake_source = ROOT / "unit_tests" / "landing" / "fake_source.py"
    schema = f"secrets_{uuid.uuid4().hex[:8]}"

    synced = subprocess.run(
        [*CLI, "sync", "--config", str(config), "--clickhouse-url", url, "--database", schema,
         "--source-command", f"{sys.executable} {recorder} {fake_source}"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    transformed = subprocess.run(
        [*CLI, "transform", "--clickhouse-url", url, "--project-dir", str(project),
         "--schema", schema],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert synced.returncode == 0, synced.stderr[-2000:]
    assert transformed.returncode == 1, transformed.stdout[-2000:] + transformed.stderr[-2000:]
    assert "model.tiny.broken" in transformed.stdout  # dbt ran, and wrote about an error
    assert (tmp_path / "logs" / "dbt.log").exists()
    assert (tmp_path / "target" / "run_results.json").exists()
    assert (tmp_path / "target" / "manifest.json").exists()
    invocation = json.loads((tmp_path / "target" / "run_results.json").read_text())["args"]
    assert "--clickhouse-url http://pipeline:***@127.0.0.1" in invocation["invocation_command"]
    assert invocation["send_anonymous_usage_stats"] is False  # transform: off unless asked
    children = [json.loads(line) for line in (tmp_path / "argv.jsonl").read_text().splitlines()]
    assert [argv[2] for argv in children] == ["discover", "read"]
    assert not [argv for argv in children if any(s in " ".join(argv) for s in secrets)]
    for done in (synced, transformed):
        assert not [s for s in secrets if s in done.stdout + done.stderr]
    assert not secrets_in(tmp_path, secrets)
    assert not [s for s in secrets if s in json.dumps(invocation)]
