"""On a ClickHouse cluster, every table the pipeline creates is replicated on every node.

The ClickHouse test server emulates one node of a cluster: it parses each `ON CLUSTER`
statement with ClickHouse's own parser and logs every statement it receives. A sync and two
dbt builds (the second takes the incremental path) with the cluster set must send DDL that
a cluster accepts: `ON CLUSTER` on every DDL statement, Replicated engines for every table
of the landing and every persisted dbt model.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from kubecost_pipeline.clickhouse import connect
from kubecost_pipeline.landing import sync
from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer
from kubecost_pipeline.transform import build

pytestmark = pytest.mark.slow

CLUSTER = "kubecost_cluster"
START = date(2026, 11, 1)
LANDING_TABLES = ("allocations", "assets", "clusters_airbyte_tmp", "_airbyte_state")
DDL = re.compile(r"\s*(create|drop|rename|exchange|alter|truncate)\b", re.I)
LOCAL_ONLY = re.compile(r"^\s*create\s+temporary\b|__dbt_exchange_test_", re.I)  # by design
ON_CLUSTER = re.compile(rf"\bON CLUSTER [`\"]?{CLUSTER}[`\"]?", re.I)
ENGINE = re.compile(r"\bengine\s*=?\s*(\w+)", re.I)


def ddl(statements: list[str]) -> list[str]:
    """DDL statements as sent, comments dropped and whitespace folded."""
    folded = (re.sub(r"\s+", " ", re.sub(r"/\*.*?\*/", "", s, flags=re.S)) for s in statements)
    return [s.strip() for s in folded if DDL.match(s) and not LOCAL_ONLY.search(s)]


def created(statements: list[str], relation: str) -> list[str]:
    return [
        s
        for s in statements
        if re.match(rf"create (or replace )?\w+ (if not exists )?{re.escape(relation)} ", s, re.I)
    ]


def test_given_a_cluster_then_landing_and_every_model_create_replicated_tables_on_cluster(
    start_clickhouse_server: Any,
) -> None:
    server = start_clickhouse_server(cluster=CLUSTER)
    url = server.url()
    fleet = Fleet(FleetSpec(seed=3, clusters=1, start=START, days=3))
    config = {"start_date": str(START), "end_date": str(START + timedelta(days=1))}
    with SimulatorServer(fleet, now=datetime(2026, 11, 4, tzinfo=UTC)) as simulator:
        sync({**config, "url": simulator.base_url}, url, "kc", cluster=CLUSTER)
    builds = [
        build(url, schema="kc", vars={"kubecost_database": "kc"}, cluster=CLUSTER) for _ in range(2)
    ]
    client = connect(url)
    rows = client.command("SELECT count() FROM kc_marts.k8s_expenses_daily")
    client.close()
    statements = ddl(server.statements())

    for result in builds:
        assert result.success, result.report()
    assert rows > 0
    assert statements
    not_on_cluster = [s for s in statements if not ON_CLUSTER.search(s)]
    assert not not_on_cluster, not_on_cluster
    tables = [s for s in statements if re.match(r"create (or replace )?table ", s, re.I)]
    not_replicated = [s for s in tables if not ENGINE.search(s)[1].startswith("Replicated")]
    assert not not_replicated, not_replicated

    for table in LANDING_TABLES:
        assert created(tables, f"`kc`.`{table}`"), table
    models = [
        r.node
        for r in builds[0].results
        if r.node.resource_type == "model" and r.node.config.materialized != "ephemeral"
    ]
    assert {m.config.materialized for m in models} == {"view", "table", "incremental"}
    for model in models:
        assert created(statements, model.relation_name), model.relation_name
    # the incremental build created its new rows' table on the cluster too
    assert any("__dbt_new_data" in s for s in tables)
