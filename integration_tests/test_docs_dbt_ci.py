"""docs/dbt-ci.md stays true: its profile renders exactly as written, and its steps build
the marts on a ClickHouse server over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from kubecost_pipeline.clickhouse import ClickHouseURL, connect

pytestmark = pytest.mark.slow  # dbt builds, real processes: `make test` only

ROOT = Path(__file__).resolve().parents[1]


def workflow() -> dict:
    text = (ROOT / "docs" / "dbt-ci.md").read_text()
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S)[1])


def test_given_the_documented_job_env_then_dbt_renders_the_server_it_describes(
    render_dbt_profile,
):
    job = workflow()["jobs"]["dbt-build"]
    service = job["services"]["clickhouse"]

    credentials = render_dbt_profile(job["env"])

    assert type(credentials).__name__ == "ClickHouseCredentials"  # DBT_TARGET: clickhouse
    landing = ClickHouseURL.parse(job["env"]["KUBECOST_PIPELINE__CLICKHOUSE__URL"])
    assert (credentials.host, credentials.port, credentials.secure) == ("127.0.0.1", 8123, False)
    assert service["ports"] == [f"{credentials.port}:8123"]
    assert (credentials.user, credentials.password) == (
        service["env"]["CLICKHOUSE_USER"],
        service["env"]["CLICKHOUSE_PASSWORD"],
    )
    assert (landing.host, landing.port, landing.user, landing.password) == (
        credentials.host, credentials.port, credentials.user, credentials.password
    )  # fmt: skip
    assert credentials.schema == "kubecost"


def test_given_the_documented_workflow_when_its_steps_run_then_dbt_builds_the_marts(
    start_clickhouse_server,
):
    job = workflow()["jobs"]["dbt-build"]
    service = job["services"]["clickhouse"]["env"]
    steps = [step for step in job["steps"] if "run" in step and step["name"] != "Install"]
    assert [step["name"] for step in steps] == ["Land a simulated fortnight", "dbt build"]
    server = start_clickhouse_server(
        user=service["CLICKHOUSE_USER"], password=service["CLICKHOUSE_PASSWORD"]
    )
    documented = job["env"]["KUBECOST_PIPELINE__CLICKHOUSE__URL"]
    env = {
        **os.environ,
        **{key: str(value) for key, value in job["env"].items()},
        # The service container's port, moved to where the test server listens:
        "KUBECOST_PIPELINE__CLICKHOUSE__URL": documented.replace(":8123", f":{server.port}"),
        "DBT_CLICKHOUSE_PORT": str(server.port),
    }
    script = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + "\n".join(
        step["run"] for step in steps
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Completed successfully" in done.stdout
    run_results = Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json"
    assert json.loads(run_results.read_text())["args"]["send_anonymous_usage_stats"] is False

    client = connect(env["KUBECOST_PIPELINE__CLICKHOUSE__URL"])
    count, days, clusters = client.query(
        "select count(), uniqExact(date), uniqExact(cluster) from kubecost_marts.k8s_expenses_daily"
    ).result_rows[0]
    assert count > 0
    assert days == 14  # 2026-11-01 .. 2026-11-14, as simulator_source.json asks
    assert clusters == 2

    # Every query of docs/analyst-queries.md runs on these marts.
    queries = re.findall(
        r"```sql\n(.*?)```", (ROOT / "docs" / "analyst-queries.md").read_text(), re.S
    )
    assert len(queries) >= 8
    rows_per_query = [len(client.query(query).result_rows) for query in queries]
    client.close()
    assert all(n > 0 for n in rows_per_query[:-1]), rows_per_query
    assert rows_per_query[-1] == 0  # "does the money add up?" lists the days that do not
