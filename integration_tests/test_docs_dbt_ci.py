"""docs/dbt-ci.md stays true: run its GitHub Actions steps against an embedded ClickHouse."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # dbt builds, real processes: `make test` only

ROOT = Path(__file__).resolve().parents[1]


def workflow() -> dict:
    text = (ROOT / "docs" / "dbt-ci.md").read_text()
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S)[1])


def test_given_the_documented_workflow_when_its_steps_run_then_dbt_builds_the_marts(tmp_path):
    job = workflow()["jobs"]["dbt-build"]
    steps = [step for step in job["steps"] if "run" in step and step["name"] != "Install"]
    assert [step["name"] for step in steps] == ["Land a simulated fortnight", "dbt build"]
    chdb = tmp_path / "chdb"
    env = {
        **os.environ,
        **{key: str(value) for key, value in job["env"].items()},
        # The server of the workflow, swapped for an embedded one:
        "CLICKHOUSE_URL": f"chdb://{chdb}",
        "DBT_TARGET": "embedded",
        "DBT_CHDB_PATH": str(chdb),
        "DBT_SCHEMA": job["env"]["DBT_CLICKHOUSE_DATABASE"],
    }
    script = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + "\n".join(
        step["run"] for step in steps
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Completed successfully" in done.stdout

    rows = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubecost_pipeline.cli",
            "sql",
            "select count(), uniqExact(date), uniqExact(cluster) "
            "from kubecost_marts.k8s_expenses_daily",
            "--clickhouse-url",
            f"chdb://{chdb}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rows.returncode == 0, rows.stderr
    count, days, clusters = (int(v) for v in rows.stdout.splitlines()[1].split("\t"))
    assert count > 0
    assert days == 14  # 2026-11-01 .. 2026-11-14, as simulator_source.json asks
    assert clusters == 2

    # Every query of docs/analyst-queries.md runs on these marts.
    queries = re.findall(
        r"```sql\n(.*?)```", (ROOT / "docs" / "analyst-queries.md").read_text(), re.S
    )
    assert len(queries) >= 8
    counts = subprocess.run(
        [sys.executable, "-c", RUN_QUERIES, f"chdb://{chdb}", json.dumps(queries)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert counts.returncode == 0, counts.stderr[-3000:]
    rows_per_query = json.loads(counts.stdout)
    assert all(n > 0 for n in rows_per_query[:-1]), rows_per_query
    assert rows_per_query[-1] == 0  # "does the money add up?" lists the days that do not


RUN_QUERIES = """
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
print(json.dumps([len(client.query(q).result_rows) for q in json.loads(sys.argv[2])]))
"""
