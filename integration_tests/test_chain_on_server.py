"""The chain's commands on a ClickHouse server over HTTP: `demo --clickhouse-url`, `sql` on
what it built, then Airbyte's webhook running dbt and the CloudTuner hook (the marts reader
and the `expenses` writer) on the same server."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from kubecost_pipeline.chain import load_pipeline_config, run_chain
from kubecost_pipeline.cli import main
from kubecost_pipeline.clickhouse import connect
from kubecost_pipeline.post_sync import sandbox, settings
from kubecost_pipeline.post_sync.discovery import connect as connect_mysql
from kubecost_pipeline.webhook import PATH, make_server

pytestmark = pytest.mark.slow

SECRET = "server-chain-webhook-secret"
CONNECTION = str(uuid.uuid4())


def post(port: int, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{PATH}?token={SECRET}", json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_given_a_server_when_demo_sql_and_webhook_run_then_marts_and_expenses_land_there(
    clickhouse_server: Any,
    mysql_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = clickhouse_server.url()
    demo = ["demo", "--clickhouse-url", url, "--days", "2", "--clusters", "1", "--quiet"]
    demo += ["--workdir", str(tmp_path)]  # where its report.html goes

    assert main(demo) == 0
    out = capsys.readouterr().out
    assert "Reconciliation: PASS" in out
    query = out.split('kubecost-pipeline sql "', 1)[1].split('"\n', 1)[0]
    assert "kubecost_demo_marts." in query  # the demo's own databases on a server
    assert main(["sql", query, "--clickhouse-url", url, "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "date,resource_key,total_cost" and len(rows) > 1
    assert out.rstrip().endswith(str(tmp_path.resolve() / "report.html"))
    assert "Allocations by namespace" in out and (tmp_path / "report.html").exists()

    client = connect(url)
    cluster = client.command("SELECT DISTINCT cluster FROM kubecost_demo_marts.k8s_resources")
    client.command("CREATE DATABASE IF NOT EXISTS kubecost_demo_cloudtuner")
    if not client.command("EXISTS TABLE kubecost_demo_cloudtuner.expenses"):
        client.command(settings.EXPENSES_DDL, parameters={"db": "kubecost_demo_cloudtuner"})
    mysql = connect_mysql(mysql_url)
    sandbox.create_mysql_tables(mysql)
    (account,) = sandbox.seed_organization(mysql, accounts=1).account_ids
    mysql.close()
    mongo = sandbox.mongomock_client()
    sandbox.create_mongo_indexes(mongo["restapi"]["resources"])
    monkeypatch.setattr("pymongo.MongoClient", lambda *args, **kwargs: mongo)
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(
        f'[clickhouse]\nurl = "{url}"\n[landing]\ndatabase = "kubecost_demo"\n'
        '[dbt]\nschema = "kubecost_demo"\n[expenses]\ndatabase = "kubecost_demo_cloudtuner"\n'
        f'[mysql]\nurl = "{mysql_url}"\n[mongodb]\nuri = "mongodb://mongomock.invalid"\n'
        f'[cloudtuner.cluster_accounts]\n"{cluster}" = "{account}"\n'
    )
    config = load_pipeline_config(pipeline)
    outcomes: list[Any] = []
    server, runner = make_server(
        ("127.0.0.1", 0),
        SECRET,
        [CONNECTION],
        lambda _: outcomes.append(run_chain(config, frozenset({"sync"}), progress=None)),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert (
            post(
                server.server_address[1],
                {"data": {"connection": {"id": CONNECTION}, "success": True}},
            )
            == 202
        )
        assert runner.idle.wait(600)
    finally:
        server.shutdown()

    assert len(outcomes) == 1 and outcomes[0]["dbt"].success
    # The daily build: models and data tests; dbt's unit tests are left to CI.
    kinds = {result.node.resource_type for result in outcomes[0]["dbt"].results}
    assert {"model", "test"} <= kinds and "unit_test" not in kinds
    pods = client.command(
        "SELECT round(sum(total_cost), 6) FROM kubecost_demo_marts.k8s_expenses_daily "
        "WHERE level = 'pod'"
    )
    expenses = client.command(
        "SELECT round(sum(cost * sign), 6) FROM kubecost_demo_cloudtuner.expenses "
        "WHERE cloud_account_id = {a:String}",
        parameters={"a": account},
    )
    client.close()
    assert float(expenses) == pytest.approx(float(pods)) and float(pods) > 0
    assert mongo["restapi"]["resources"].count_documents({"cloud_account_id": account}) > 0
