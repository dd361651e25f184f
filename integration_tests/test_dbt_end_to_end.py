"""End to end on the simulator: sync days, dbt build, marts equal the fleet's ground truth.

A second sync re-reads the lookback days after the simulator restated them: the marts must
show the restated numbers, never old plus new. Runs on embedded chDB and over HTTP.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from kubecost_pipeline.landing import sync
from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer
from kubecost_pipeline.transform import build

pytestmark = pytest.mark.slow

START = date(2026, 11, 1)
LEVELS = ("cluster", "node", "namespace", "controller", "pod", "idle")


def _dbt_build(url: str, schema: str, landing: str) -> None:
    result = build(url, schema=schema, vars={"kubecost_database": landing})
    assert result.success, result.report()


def _mart_key(level: str, key: tuple[str, ...]) -> tuple[str, str]:
    """The fleet's truth key -> (cluster, resource_key) of k8s_expenses_daily."""
    cluster, rest = key[0], key[1:]
    if level == "cluster":
        return cluster, cluster
    if level in ("node", "idle"):
        return cluster, rest[0] or "__unallocated__"
    if level == "namespace":
        return cluster, rest[0]
    if level == "controller":
        namespace, kind, name = rest
        return cluster, f"{namespace}/{kind}:{name}" if name != "__unallocated__" else (
            f"{namespace}/__unallocated__"
        )
    return cluster, f"{rest[0]}/{rest[1]}"  # pod


def _marts(ch_client, schema: str, day: date) -> dict[str, dict[tuple[str, str], float]]:
    rows = ch_client.query(
        "SELECT level, cluster, resource_key, if(level = 'idle', idle_cost, total_cost) "
        "FROM {db:Identifier}.k8s_expenses_daily WHERE date = {day:Date}",
        parameters={"db": f"{schema}_marts", "day": day},
    ).result_rows
    marts: dict[str, dict[tuple[str, str], float]] = {level: {} for level in LEVELS}
    for level, cluster, key, cost in rows:
        marts.setdefault(level, {})[cluster, key] = cost
    return marts


def _assert_marts_equal_truth(fleet, ch_client, schema: str, days: list[date]) -> None:
    for day in days:
        marts = _marts(ch_client, schema, day)
        for level in LEVELS:
            truth = {
                _mart_key(level, key): cost
                for key, cost in fleet.truth(day, level=level, idle_by_node=True).items()
            }
            assert marts[level].keys() == truth.keys(), (day, level)
            off = {
                k: (v, marts[level][k]) for k, v in truth.items() if abs(v - marts[level][k]) > 1e-6
            }
            assert not off, (day, level, off)


def _assert_cluster_dimension_as_served(base_url: str, ch_client, schema: str) -> None:
    """k8s_clusters holds what the API answered: clusterInfoMap's clusters (the local one
    completed by clusterInfo), getConfigs' currency, installInfo's Kubecost version."""

    def data(endpoint: str):
        answer = requests.get(f"{base_url}/model/{endpoint}", timeout=30)
        answer.raise_for_status()
        return answer.json()["data"]

    served = data("clusterInfoMap")
    local = data("clusterInfo")
    served[local["id"]] = {**local, **served.get(local["id"], {})}
    currency, kubecost_version = data("getConfigs")["currencyCode"], data("installInfo")["version"]
    rows = ch_client.query(
        "SELECT cluster, provider, region, kubernetes_version, kubecost_version, currency "
        "FROM {db:Identifier}.k8s_clusters ORDER BY cluster",
        parameters={"db": f"{schema}_marts"},
    ).result_rows
    assert rows == [
        (cid, info["provider"], info["region"], info.get("version", ""), kubecost_version, currency)
        for cid, info in sorted(served.items())
    ]
    assert kubecost_version and kubecost_version != local["version"]


def test_given_synced_days_and_a_restating_re_read_then_marts_equal_the_truth_per_day_and_level(
    clickhouse,
):
    ch_client, ch_database = clickhouse.client, clickhouse.database
    fleet = Fleet(FleetSpec(seed=11, clusters=2, start=START, days=10))
    landing = f"{ch_database}_kubecost"
    config = {
        "start_date": str(START),
        "end_date": str(START + timedelta(days=2)),
        "granularity": "container",
        "idle_policy": "separate",
        "idle_by_node": True,
        "lookback_days": 2,
    }
    first_days = [START + timedelta(days=d) for d in range(3)]
    with SimulatorServer(fleet, now=datetime(2026, 11, 5, 12, tzinfo=UTC)) as server:
        config["url"] = server.base_url
        sync(config, clickhouse.url, landing)
        _dbt_build(clickhouse.url, ch_database, landing)
        _assert_marts_equal_truth(fleet, ch_client, ch_database, first_days)
        before = {day: _marts(ch_client, ch_database, day)["cluster"] for day in first_days}

        # the second sync re-reads 2 and 3 Nov (lookback; 3 Nov is inside the simulator's
        # restatement window, so its adjustments change) and adds 4 Nov
        sync({**config, "end_date": str(START + timedelta(days=3))}, clickhouse.url, landing)
        _dbt_build(clickhouse.url, ch_database, landing)
        all_days = [START + timedelta(days=d) for d in range(4)]
        _assert_marts_equal_truth(fleet, ch_client, ch_database, all_days)
        _assert_cluster_dimension_as_served(server.base_url, ch_client, ch_database)

    after = {day: _marts(ch_client, ch_database, day)["cluster"] for day in first_days}
    restated = [day for day in first_days if after[day] != before[day]]
    assert restated, "the simulator restated no re-read day: the test would prove nothing"
    reconciliation = ch_client.query(
        "SELECT max(abs(pods_minus_namespaces)), max(abs(namespaces_minus_allocated)), "
        "max(abs(compute_plus_idle_minus_node_assets)), sum(missing_days_before), "
        "countIf(not node_assets_checked), groupUniqArray(allocations_reading) "
        "FROM {db:Identifier}.k8s_reconciliation_daily",
        parameters={"db": f"{ch_database}_marts"},
    ).result_rows[0]
    assert all(abs(v) < 1e-6 for v in reconciliation[:3]) and reconciliation[3] == 0
    # the node assets check ran on every day and cluster, each day read from a whole reading
    assert reconciliation[4:] == (0, ["complete"])
