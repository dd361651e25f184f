"""Simulator -> sync -> dbt build -> CloudTuner hook: OptScale reads exactly the dbt marts.

The real marts (not the post_sync test fixture), through the hook, into MariaDB, chDB and
mongomock; then a restating re-read and a new day, and an unchanged rerun.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from kubecost_pipeline.landing import sync
from kubecost_pipeline.post_sync import Stores, load_config, project, sandbox
from kubecost_pipeline.post_sync.discovery import connect
from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer
from kubecost_pipeline.transform import build

pytestmark = pytest.mark.slow

START = date(2026, 11, 1)


def dbt_build(chdb_url: str, schema: str, landing: str) -> None:
    result = build(chdb_url, schema=schema, vars={"kubecost_database": landing})
    assert result.success, result.report()


def mart_pod_costs(ch: Any, marts: str, cluster: str) -> dict[tuple[str, int], float]:
    rows = ch.query(
        "SELECT concat('pod:', resource_key), toUInt32(date) * 86400, total_cost "
        "FROM {db:Identifier}.k8s_expenses_daily WHERE cluster = {c:String} AND level = 'pod'",
        parameters={"db": marts, "c": cluster},
    ).result_rows
    return {(crid, day): cost for crid, day, cost in rows if abs(cost) > 1e-9}


def optscale_pod_costs(ch: Any, db: str, account: str, resources: Any) -> dict:
    """(pod:<resource key>, day) -> cost as OptScale reads it: live docs joined on `_id`."""
    names = {
        d["_id"]: f"{d['kubecost']['level']}:{d['kubecost']['resource_key']}"
        for d in resources.find({"cloud_account_id": account, "deleted_at": 0})
    }
    rows = ch.query(
        "SELECT resource_id, toUnixTimestamp(date), SUM(cost * sign) FROM {db:Identifier}.expenses "
        "WHERE cloud_account_id = {a:String} GROUP BY resource_id, date HAVING SUM(sign) > 0",
        parameters={"db": db, "a": account},
    ).result_rows
    return {(names[rid], day): cost for rid, day, cost in rows if abs(cost) > 1e-9}


def test_given_real_marts_then_optscale_sees_every_pod_day_and_a_restatement_is_corrected(
    chdb_url: str, ch_client: Any, ch_database: str, mysql_url: str
) -> None:
    fleet = Fleet(FleetSpec(seed=5, clusters=2, start=START, days=8))
    landing, marts = f"{ch_database}_kubecost", f"{ch_database}_marts"
    expenses = f"cloudtuner_{uuid.uuid4().hex[:8]}"
    ch_client.command(f"CREATE DATABASE `{expenses}`")
    conn = connect(mysql_url)
    sandbox.create_mysql_tables(conn)
    org = sandbox.seed_organization(conn, accounts=2)
    conn.close()
    mongo = sandbox.mongomock_client()
    sandbox.create_mongo_indexes(mongo["restapi"]["resources"])
    resources = mongo["restapi"]["resources"]
    stores = Stores(ch_client, ch_client, mongo, lambda: connect(mysql_url))
    sync_config = {
        "start_date": str(START),
        "end_date": str(START + timedelta(days=2)),
        "granularity": "container",
        "idle_policy": "separate",
        "idle_by_node": True,
        "lookback_days": 2,
    }

    with SimulatorServer(fleet, now=datetime(2026, 11, 5, 12, tzinfo=UTC)) as server:
        sync_config["url"] = server.base_url
        sync(sync_config, chdb_url, landing)
        dbt_build(chdb_url, ch_database, landing)
        found = ch_client.query(f"SELECT DISTINCT cluster FROM `{marts}`.k8s_resources")
        clusters = sorted(c for (c,) in found.result_rows)
        config = load_config(
            environ={},
            overrides={
                "marts_url": chdb_url,
                "marts_database": marts,
                "mongodb_uri": "mongodb://mongomock.invalid",
                "mysql_url": mysql_url,
                "expenses_database": expenses,
                "cluster_accounts": dict(zip(clusters, org.account_ids, strict=True)),
            },
        )
        now = int(datetime(2026, 11, 5, 12, tzinfo=UTC).timestamp())
        first = project(config, stores=stores, create_expenses_table=True, now=now)
        assert {a.cluster for a in first.accounts} == set(clusters)
        for cluster, account in config.cluster_accounts.items():
            want = mart_pod_costs(ch_client, marts, cluster)
            assert want, cluster
            assert optscale_pod_costs(ch_client, expenses, account, resources) == pytest.approx(
                want
            )

        sync({**sync_config, "end_date": str(START + timedelta(days=3))}, chdb_url, landing)
        dbt_build(chdb_url, ch_database, landing)

    second = project(config, stores=stores, now=now + 86_400)

    assert sum(a.expenses.new_days for a in second.accounts) > 0  # 4 Nov arrived
    for cluster, account in config.cluster_accounts.items():
        want = mart_pod_costs(ch_client, marts, cluster)
        assert optscale_pod_costs(ch_client, expenses, account, resources) == pytest.approx(want)
        pods = resources.count_documents({"cloud_account_id": account, "kubecost.level": "pod"})
        assert pods == len({crid for crid, _ in want})
    assert resources.count_documents({"organization_id": {"$exists": True}}) == 0
    again = project(config, stores=stores, now=now + 86_400)
    assert sum(a.expenses.rows for a in again.accounts) == 0
    assert sum(a.resources.updates + a.resources.inserts for a in again.accounts) == 0
    for suffix in ("_kubecost", "_staging", "_marts"):
        ch_client.command(f"DROP DATABASE IF EXISTS `{ch_database}{suffix}`")
    ch_client.command(f"DROP DATABASE IF EXISTS `{expenses}`")
