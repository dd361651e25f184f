"""The README's main job (`kubecost-pipeline demo`) and `run`'s stop-at-first-failure rule,
each as a real process with its own embedded ClickHouse directory."""

from __future__ import annotations

import subprocess
import sys

import pymysql
import pytest

from kubecost_pipeline.post_sync import sandbox

pytestmark = pytest.mark.slow  # dbt builds, real processes: `make test` only

CLI = [sys.executable, "-m", "kubecost_pipeline.cli"]


def test_given_nothing_installed_when_demo_runs_then_it_reports_reconciled_costs(tmp_path):
    done = subprocess.run(
        [*CLI, "demo", "--days", "3", "--clusters", "2", "--workdir", str(tmp_path), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Reconciliation: PASS" in out
    assert "Idle share:" in out
    assert "Top namespaces:" in out
    assert "CloudTuner projection (dry run)" in out
    assert "kubecost-pipeline sql" in out
    # The printed query works on what the demo built.
    query = out.split('kubecost-pipeline sql "', 1)[1].split('"\n', 1)[0]
    rows = subprocess.run(
        [*CLI, "sql", query, "--clickhouse-url", f"chdb://{tmp_path / 'chdb'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rows.returncode == 0, rows.stderr
    assert rows.stdout.splitlines()[0] == "date\tresource_key\ttotal_cost"
    assert len(rows.stdout.splitlines()) == 21


def test_given_dbt_fails_when_run_then_exit_1_and_cloudtuner_untouched(tmp_path, mysql_url):
    conn = pymysql.connect(
        host="127.0.0.1", user="root", password="", database=mysql_url.rsplit("/", 1)[1]
    )
    sandbox.create_mysql_tables(conn)
    organization = sandbox.seed_organization(conn, accounts=1)
    conn.commit()
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f"""
[clickhouse]
url = "chdb://{tmp_path / "chdb"}"
[landing]
database = "no_such_landing_database"
[mysql]
url = "{mysql_url}"
[mongodb]
uri = "mongodb://127.0.0.1:1/"
[cloudtuner.cluster_accounts]
"prod" = "{organization.account_ids[0]}"
"""
    )
    done = subprocess.run(
        [*CLI, "run", "--config", str(config), "--skip-sync", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1
    assert "dbt failed" in done.stderr
    assert "The CloudTuner projection was not run" in done.stderr
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM discovery_info")
        assert cur.fetchone() == (0,)
    conn.close()
