"""The hook against real MariaDB and chDB and mongomock with OptScale's indexes.

Every check reads the stores the way OptScale does: expenses by SUM(cost*sign) ... HAVING
SUM(sign) > 0 joined to the Mongo `_id`, documents by `_first_seen_date`/`_last_seen_date`/
`deleted_at`.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from kubecost_pipeline.post_sync import (
    ConfigError,
    LockBusyError,
    ProjectionFailed,
    StoreError,
    Stores,
    project,
    sandbox,
)
from kubecost_pipeline.post_sync.discovery import connect

# Each scenario projects into a real MariaDB and chDB (about a second of CPU each, half a
# minute together): `make test` only.
pytestmark = pytest.mark.slow

DAY = 86_400
START = date(2026, 10, 1)
NOW = 1_793_000_000  # 2026-10-26 08:53:20 UTC: the frozen start of a run


def own(level: str, key: str) -> dict[str, str]:
    """The Mongo filter of the hook's document of a mart row (its `kubecost` field)."""
    return {"kubecost.level": level, "kubecost.resource_key": key}


def name(doc: dict) -> str:
    return f"{doc['kubecost']['level']}:{doc['kubecost']['resource_key']}"


def ts(naive_utc: datetime) -> int:
    return int(naive_utc.replace(tzinfo=UTC).timestamp())


def fetch(conn: Any, sql: str, *args: Any) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def clusters(days: int = 3, pods: int = 6) -> list[sandbox.Cluster]:
    return [sandbox.synthetic_cluster("prod-eu", START, days, pods)]


def optscale_expenses(ch: Any, db: str, account: str, resources: Any, day: date) -> dict:
    """level:key -> cost of `day`, the way OptScale's clean_expenses reads them."""
    start = datetime(day.year, day.month, day.day)
    docs = list(
        resources.find(
            {
                "cloud_account_id": account,
                "deleted_at": 0,
                "_first_seen_date": {"$lte": start},
                "_last_seen_date": {"$gte": start},
            },
            {"_id": 1, "kubecost": 1},
        )
    )
    by_id = {d["_id"]: name(d) for d in docs}
    rows = ch.query(
        "SELECT resource_id, SUM(cost * sign) FROM {db:Identifier}.expenses "
        "WHERE cloud_account_id = {a:String} AND date = toDateTime({d:UInt32}) "
        "AND resource_id IN {ids:Array(String)} GROUP BY resource_id HAVING SUM(sign) > 0",
        parameters={"db": db, "a": account, "d": ts(start), "ids": list(by_id)},
    ).result_rows
    return {by_id[rid]: cost for rid, cost in rows}


def mart_costs(c: sandbox.Cluster, day: date) -> dict[str, float]:
    return {f"pod:{p.key}": c.pod_cost(p, day) for p in c.pods if day in p.days}


def snapshot(ch: Any, db: str, resources: Any, mysql: Any) -> dict:
    """The end state, without the values a run draws at random (_id)."""
    docs = {(d["cloud_account_id"], name(d)): d for d in resources.find({})}
    ids = {d["_id"]: key for key, d in docs.items()}
    for d in docs.values():
        del d["_id"]
    rows = ch.query(
        "SELECT resource_id, toUnixTimestamp(date), round(SUM(cost * sign), 9), SUM(sign) "
        "FROM {db:Identifier}.expenses GROUP BY resource_id, date HAVING SUM(sign) != 0",
        parameters={"db": db},
    ).result_rows
    discovery = fetch(
        mysql,
        "SELECT cloud_account_id, resource_type, last_discovery_at, last_error_at, last_error "
        "FROM discovery_info ORDER BY 1, 2",
    )
    return {
        "docs": docs,
        "expenses": sorted((ids[r], d, c, s) for r, d, c, s in rows),
        "discovery": discovery,
    }


def expense_rows(ch: Any, db: str) -> int:
    return ch.query(
        "SELECT count() FROM {db:Identifier}.expenses", parameters={"db": db}
    ).result_rows[0][0]


@pytest.fixture
def run(make_config: Any, stores: Stores, marts_db: str, ch_client: Any) -> Any:
    def run_(marts: list[sandbox.Cluster] | None = None, now: int = NOW, **config: Any) -> Any:
        if marts is not None:
            sandbox.write_marts(ch_client, marts_db, marts)
        return project(
            make_config(**config),
            stores=stores,
            create_expenses_table=True,
            now=now,
        )

    return run_


class TestFirstRun:
    def test_given_empty_stores_when_projected_then_optscale_reads_every_pod_cost(
        self, run: Any, ch_client: Any, expenses_db: str, resources: Any, org: Any, mysql: Any
    ) -> None:
        marts = clusters()
        result = run(marts)

        account = org.account_ids[0]
        for day in marts[0].pods[0].days:
            got = optscale_expenses(ch_client, expenses_db, account, resources, day)
            assert got == pytest.approx(mart_costs(marts[0], day))
        assert result.accounts[0].resources.inserts == 1 + 3 + 4 + 6
        assert result.skipped_clusters == []

    def test_given_first_run_then_documents_follow_the_optscale_contract(
        self, run: Any, resources: Any, org: Any
    ) -> None:
        run(clusters())

        pod = resources.find_one(own("pod", "ns-1/app-1-07919"))
        assert pod["resource_type"] == "K8s Pod"
        assert pod["cloud_account_id"] == org.account_ids[0]
        assert isinstance(pod["_id"], str) and len(pod["_id"]) == 36
        assert (pod["k8s_cluster"], pod["k8s_namespace"], pod["k8s_node"], pod["k8s_service"]) == (
            "prod-eu", "ns-1", "prod-eu-node-1", "svc-1",
        )  # fmt: skip
        assert pod["tags"] == {"YXBw": "app-1", "YXBwLmt1YmVybmV0ZXMuaW8vcGFydC1vZg==": "ns-1"}
        assert pod["first_seen"] == ts(datetime(2026, 10, 1, 8)) and pod["last_seen"] == NOW
        assert pod["_first_seen_date"] == datetime(2026, 10, 1)
        assert pod["_last_seen_date"] == datetime(2026, 10, 26)  # NOW's UTC day
        assert (pod["created_at"], pod["deleted_at"], pod["active"]) == (NOW, 0, True)
        assert (pod["pool_id"], pod["employee_id"]) == (org.pool_id, org.employee_id)
        assert "organization_id" not in pod
        assert pod["total_cost"] == pytest.approx(3 * 0.0237)
        assert pod["last_expense"] == {
            "date": ts(datetime(2026, 10, 3)),
            "cost": 0.0237,
        }
        assert pod["meta"] == {}  # OptScale's observer copies meta onto a PodResource
        assert pod["cpu_cost"] == pytest.approx(3 * 0.0237 * 0.6)
        assert (pod["cpu_efficiency"], pod["ram_efficiency"]) == (0.4, 0.5)
        assert pod["created_by_name"] == "app-1"
        assert pod["kubecost"]["level"] == "pod" and pod["kubecost"]["cluster"] == "prod-eu"
        assert pod["kubecost"]["total_efficiency"] == 0.45
        assert pod["cloud_resource_id"] != pod["_id"] and len(pod["cloud_resource_id"]) == 36
        types = {name(d): d["resource_type"] for d in resources.find({})}
        assert types["cluster:prod-eu"] == "K8s Cluster"
        assert types["node:prod-eu-node-0"] == "K8s Node"
        assert types["namespace:ns-0"] == "K8s Namespace"

    def test_given_first_run_then_rollups_are_not_optscale_resources(
        self, run: Any, resources: Any
    ) -> None:
        run(clusters())

        for level in ("cluster", "node", "namespace"):
            for doc in resources.find({"kubecost.level": level}):
                assert not {"active", "_first_seen_date", "_last_seen_date"} & doc.keys()
                assert doc["first_seen"] and doc["last_seen"]
        cluster = resources.find_one(own("cluster", "prod-eu"))
        assert cluster["meta"] == {"node_count": 3, "namespace_count": 4, "pod_count": 6}
        namespace = resources.find_one(own("namespace", "ns-1"))
        assert namespace["meta"] == {"pod_count": 2}  # pods 1 and 5

    def test_given_first_run_then_only_pods_carry_expenses_and_rollups_sit_in_total_cost(
        self, run: Any, resources: Any, ch_client: Any, expenses_db: str
    ) -> None:
        marts = clusters()
        run(marts)

        pods = {d["_id"] for d in resources.find({"resource_type": "K8s Pod"})}
        billed = ch_client.query(
            "SELECT DISTINCT resource_id FROM {db:Identifier}.expenses",
            parameters={"db": expenses_db},
        ).result_rows
        assert {r for (r,) in billed} == pods
        cluster = resources.find_one(own("cluster", "prod-eu"))
        assert cluster["total_cost"] == pytest.approx(sum(p.cost * 3 for p in marts[0].pods))
        assert cluster["kubecost"]["costs"]["idle"] == pytest.approx(3 * 3 * 0.5)

    def test_given_first_run_then_discovery_info_rows_are_complete(
        self, run: Any, mysql: Any, org: Any
    ) -> None:
        run(clusters())

        rows = fetch(
            mysql,
            "SELECT cloud_account_id, resource_type, created_at, deleted_at, observe_time, "
            "last_discovery_at, last_error_at, last_error, enabled FROM discovery_info",
        )
        # disabled: OptScale's scheduler never dispatches its own pod discovery for it
        assert rows == [(org.account_ids[0], "k8s_pod", NOW, 0, NOW, NOW, 0, None, 0)]


class TestRerun:
    def test_given_unchanged_marts_when_rerun_then_nothing_is_written(
        self, run: Any, ch_client: Any, expenses_db: str, resources: Any, mysql: Any
    ) -> None:
        run(clusters())
        before = snapshot(ch_client, expenses_db, resources, mysql)
        rows = expense_rows(ch_client, expenses_db)

        result = run()

        plan = result.accounts[0]
        assert (plan.resources.inserts, plan.resources.updates, plan.expenses.rows) == (0, 0, 0)
        assert result.round_trips["mongodb"] == 2  # index check and read, no bulk_write
        assert expense_rows(ch_client, expenses_db) == rows
        assert snapshot(ch_client, expenses_db, resources, mysql) == before

    def test_given_a_later_run_then_only_the_seen_heartbeat_moves(
        self, run: Any, ch_client: Any, expenses_db: str, resources: Any, mysql: Any
    ) -> None:
        run(clusters())
        before = snapshot(ch_client, expenses_db, resources, mysql)

        run(now=NOW + 3600)

        after = snapshot(ch_client, expenses_db, resources, mysql)
        assert after["expenses"] == before["expenses"]
        for key, doc in after["docs"].items():
            if key[1].startswith("pod:"):  # resources; roll-ups keep the marts' last seen
                assert doc["last_seen"] == NOW + 3600
                doc["last_seen"] = NOW
            assert doc == before["docs"][key]
        assert [r[2] for r in after["discovery"]] == [NOW + 3600]


class TestTotals:
    def test_given_restatements_then_each_pod_total_cost_equals_its_expense_rows(
        self, run: Any, resources: Any, ch_client: Any, expenses_db: str
    ) -> None:
        marts = clusters()
        run(marts)
        marts[0].overrides[(marts[0].pods[4].key, START)] = 0.75
        marts[0].pods[5].days.pop()
        run(marts)

        sums = dict(
            ch_client.query(
                "SELECT resource_id, SUM(cost * sign) FROM {db:Identifier}.expenses "
                "GROUP BY resource_id HAVING SUM(sign) > 0",
                parameters={"db": expenses_db},
            ).result_rows
        )
        pods = list(resources.find({"resource_type": "K8s Pod"}))
        assert len(pods) == 6
        for pod in pods:
            assert pod["total_cost"] == pytest.approx(sums[pod["_id"]]), name(pod)


class TestOtherWriters:
    def test_given_rows_and_documents_of_other_writers_then_they_are_never_touched(
        self, run: Any, ch_client: Any, expenses_db: str, resources: Any, org: Any
    ) -> None:
        account = org.account_ids[0]
        marts = clusters()
        run(marts)
        foreign = {"_id": "0c2f5d1e-0000-4000-8000-000000000001", "cloud_account_id": account,
                   "cloud_resource_id": "7d3f1c2a-pod-uid", "resource_type": "K8s Pod",
                   "deleted_at": 0, "active": True, "last_seen": 1}  # fmt: skip
        resources.insert_one(dict(foreign))
        ch_client.insert(
            "expenses",
            [(account, foreign["_id"], ts(datetime(2026, 10, 2)), 4.5, 1)],
            database=expenses_db,
            column_names=["cloud_account_id", "resource_id", "date", "cost", "sign"],
        )

        marts[0].overrides[(marts[0].pods[0].key, START + timedelta(days=1))] = 2.0
        result = run(marts)  # day 2 is compared and corrected: the hook's rows only
        assert result.accounts[0].expenses.corrections == 1

        assert resources.find_one({"_id": foreign["_id"]}) == foreign
        rows = ch_client.query(
            "SELECT cost, sign FROM {db:Identifier}.expenses WHERE resource_id = {r:String}",
            parameters={"db": expenses_db, "r": foreign["_id"]},
        ).result_rows
        assert rows == [(4.5, 1)]


class TestExpenseLevel:
    def test_given_the_level_switched_then_the_old_level_nets_to_zero_and_nothing_counts_twice(
        self, run: Any, ch_client: Any, expenses_db: str, org: Any
    ) -> None:
        marts = clusters()
        run(marts)

        result = run(expense_levels=["namespace"])

        assert result.accounts[0].expenses.corrections == 6 * 3  # every pod-day zeroed
        totals = ch_client.query(
            "SELECT date, sum(c) FROM (SELECT resource_id, date, SUM(cost * sign) AS c "
            "FROM {db:Identifier}.expenses WHERE cloud_account_id = {a:String} "
            "GROUP BY resource_id, date HAVING SUM(sign) > 0) GROUP BY date ORDER BY date",
            parameters={"db": expenses_db, "a": org.account_ids[0]},
        ).result_rows
        day_total = sum(p.cost for p in marts[0].pods)
        assert [round(c, 9) for _, c in totals] == [round(day_total, 9)] * 3


class TestRestatedDays:
    def test_given_a_restated_day_then_a_minus_one_and_plus_one_pair_corrects_it(
        self, run: Any, ch_client: Any, expenses_db: str, resources: Any, org: Any
    ) -> None:
        marts = clusters()
        run(marts)
        day = START + timedelta(days=1)
        pod = marts[0].pods[2]
        marts[0].overrides[(pod.key, day)] = 1.25

        result = run(marts)

        assert result.accounts[0].expenses.corrections == 1
        assert result.accounts[0].expenses.rows == 2
        got = optscale_expenses(ch_client, expenses_db, org.account_ids[0], resources, day)
        assert got == pytest.approx(mart_costs(marts[0], day))
        doc = resources.find_one(own("pod", pod.key))
        pairs = ch_client.query(
            "SELECT cost, sign FROM {db:Identifier}.expenses WHERE resource_id = {r:String} "
            "AND date = toDateTime({d:UInt32}) ORDER BY sign, cost",
            parameters={
                "db": expenses_db,
                "r": doc["_id"],
                "d": ts(datetime(2026, 10, 2)),
            },
        ).result_rows
        assert pairs == [(pod.cost, -1), (pod.cost, 1), (1.25, 1)]  # first run, then the pair
        assert doc["total_cost"] == pytest.approx(2 * pod.cost + 1.25)

    def test_given_a_day_dropped_by_dbt_then_its_cost_nets_to_zero(
        self, run: Any, ch_client: Any, expenses_db: str, resources: Any, org: Any
    ) -> None:
        marts = clusters()
        run(marts)
        day = START + timedelta(days=1)
        marts[0].pods[0].days.remove(day)

        run(marts)

        got = optscale_expenses(ch_client, expenses_db, org.account_ids[0], resources, day)
        assert got.get(f"pod:{marts[0].pods[0].key}", 0.0) == pytest.approx(0.0)
        assert got == pytest.approx(
            {
                **mart_costs(marts[0], day),
                **{k: 0.0 for k in got.keys() - mart_costs(marts[0], day).keys()},
            }
        )


class TestPodsComeAndGo:
    def test_given_a_pod_gone_then_active_is_unset_and_it_returns_when_seen_again(
        self, run: Any, resources: Any
    ) -> None:
        marts = clusters()
        run(marts)
        gone = marts[0].pods[3]
        gone.days.remove(START + timedelta(days=2))

        run(marts, now=NOW + DAY)

        doc = resources.find_one(own("pod", gone.key))
        assert "active" not in doc  # OptScale unsets rather than writing false
        assert doc["last_seen"] == NOW  # only widens: the run that last saw it
        inactive = resources.count_documents({"active": {"$ne": True}, "resource_type": "K8s Pod"})
        assert inactive == 1

        gone.days.append(START + timedelta(days=2))
        run(marts, now=NOW + 2 * DAY)

        doc = resources.find_one(own("pod", gone.key))
        assert doc["active"] is True and doc["last_seen"] == NOW + 2 * DAY
        assert resources.count_documents(own("pod", gone.key)) == 1

    def test_given_a_pod_missing_from_the_marts_then_it_is_deactivated_not_deleted(
        self, run: Any, resources: Any, ch_client: Any, expenses_db: str, org: Any
    ) -> None:
        marts = clusters()
        run(marts)
        removed = marts[0].pods.pop()

        result = run(marts)

        assert result.accounts[0].resources.deactivations == 1
        doc = resources.find_one(own("pod", removed.key))
        assert doc["deleted_at"] == 0 and "active" not in doc
        got = optscale_expenses(ch_client, expenses_db, org.account_ids[0], resources, START)
        assert got[f"pod:{removed.key}"] == pytest.approx(0.0)


class TestClusters:
    def test_given_a_new_cluster_then_it_lands_in_its_own_account_and_the_first_is_untouched(
        self, run: Any, resources: Any, ch_client: Any, expenses_db: str, mysql: Any, org: Any
    ) -> None:
        marts = clusters()
        run(marts)
        before = snapshot(ch_client, expenses_db, resources, mysql)

        dev = sandbox.synthetic_cluster("dev", START, 2, 3, nodes=1, namespaces=1)
        result = run([*marts, dev])

        by_cluster = {a.cluster: a for a in result.accounts}
        assert by_cluster["prod-eu"].resources.inserts == 0
        assert by_cluster["dev"].resources.inserts == 1 + 1 + 1 + 3
        dev_docs = resources.count_documents({"cloud_account_id": org.account_ids[1]})
        assert dev_docs == 6
        assert optscale_expenses(ch_client, expenses_db, org.account_ids[1], resources, START) == (
            pytest.approx(mart_costs(dev, START))
        )
        after = snapshot(ch_client, expenses_db, resources, mysql)
        prod = {k: v for k, v in after["docs"].items() if k[0] == org.account_ids[0]}
        assert prod == before["docs"]

    def test_given_an_unmapped_cluster_then_it_is_reported_and_skipped(
        self, run: Any, resources: Any
    ) -> None:
        staging = sandbox.synthetic_cluster("staging", START, 1, 2)
        result = run([*clusters(), staging])

        assert result.skipped_clusters == ["staging"]
        assert resources.count_documents({"k8s_cluster": "staging"}) == 0


class TestDiscoveryInfo:
    def test_given_the_opt_in_migration_then_every_level_gets_its_row(
        self, run: Any, mysql: Any, org: Any
    ) -> None:
        with mysql.cursor() as cur:
            cur.execute(
                "ALTER TABLE discovery_info MODIFY resource_type ENUM('instance','volume',"
                "'snapshot','bucket','k8s_pod','snapshot_chain','rds_instance','ip_address',"
                "'image','k8s_cluster','k8s_node','k8s_namespace') NOT NULL"
            )
        run(clusters())

        rows = fetch(
            mysql, "SELECT resource_type, last_discovery_at FROM discovery_info ORDER BY 1"
        )
        assert sorted(rows) == sorted(
            [("k8s_cluster", NOW), ("k8s_node", NOW), ("k8s_namespace", NOW), ("k8s_pod", NOW)]
        )

    def test_migration_file_applies_to_upstream_schema(self, mysql_url: str) -> None:
        conn = connect(mysql_url)  # a fresh database: upstream DDL, then the opt-in migration
        sandbox.create_mysql_tables(conn, k8s_types_migration=True)

        (column,) = fetch(
            conn,
            "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = 'discovery_info' AND COLUMN_NAME = 'resource_type'",
        )[0]
        conn.close()
        for member in ("k8s_pod", "image", "k8s_cluster", "k8s_node", "k8s_namespace"):
            assert f"'{member}'" in column


class FlakyExpenses:
    """A ClickHouse client whose INSERTs fail: the store 'dies' after the Mongo step."""

    def __init__(self, client: Any):
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def insert(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("ClickHouse went away (injected); " + "details " * 60)


class FlakyMongo:
    """A Mongo client whose bulk writes fail."""

    def __init__(self, client: Any):
        self.client = client

    def __getitem__(self, db: str) -> Any:
        return {"resources": FlakyCollection(self.client[db]["resources"])}


class FlakyCollection:
    def __init__(self, collection: Any):
        self.collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    def bulk_write(self, *args: Any, **kwargs: Any) -> None:
        raise TimeoutError("mongo primary stepped down (injected)")


class TestFailures:
    def test_given_mongo_failing_then_recorded_for_that_account_and_the_next_account_still_runs(
        self,
        make_config: Any,
        stores: Stores,
        mysql: Any,
        ch_client: Any,
        expenses_db: str,
        marts_db: str,
        org: Any,
        resources: Any,
    ) -> None:
        dev = sandbox.synthetic_cluster("dev", START, 2, 3, nodes=1, namespaces=1)
        sandbox.write_marts(ch_client, marts_db, [*clusters(), dev])
        project(make_config(), stores=stores, create_expenses_table=True, now=NOW)
        sandbox.write_marts(ch_client, marts_db, [*clusters(days=4), dev])
        flaky = dataclasses.replace(stores, mongo=FlakyMongo(stores.mongo))
        flaky_dev = make_config(cluster_accounts={"prod-eu": org.account_ids[0]})

        with pytest.raises(ProjectionFailed) as failed:
            project(flaky_dev, stores=flaky, now=NOW + DAY)

        assert str(failed.value).startswith(
            f"MongoDB resources failed for cloud account {org.account_ids[0]}: TimeoutError"
        )
        rows = fetch(
            mysql,
            "SELECT cloud_account_id, last_discovery_at, last_error FROM discovery_info ORDER BY 1",
        )
        errors = {account: (at, error) for account, at, error in rows}
        assert errors[org.account_ids[0]][0] == NOW
        assert "primary stepped down" in errors[org.account_ids[0]][1]
        assert errors[org.account_ids[1]] == (NOW, None)  # the other account: untouched
        # nothing was half-written to expenses: the new day waits for its documents
        days = ch_client.query(
            "SELECT count(DISTINCT date) FROM {db:Identifier}.expenses",
            parameters={"db": expenses_db},
        ).result_rows[0][0]
        assert days == 3

    def test_given_two_accounts_and_one_failing_then_the_other_is_projected(
        self,
        make_config: Any,
        stores: Stores,
        ch_client: Any,
        marts_db: str,
        org: Any,
        resources: Any,
        mysql: Any,
    ) -> None:
        dev = sandbox.synthetic_cluster("dev", START, 2, 3, nodes=1, namespaces=1)
        sandbox.write_marts(ch_client, marts_db, [*clusters(), dev])
        holder = connect(make_config().mysql_url)
        fetch(holder, "SELECT GET_LOCK(%s, 0)", f"kubecost-hook:{org.account_ids[0]}")

        with pytest.raises(ProjectionFailed) as failed:
            project(make_config(), stores=stores, create_expenses_table=True, now=NOW)

        holder.close()
        assert [type(e) for e in failed.value.errors] == [LockBusyError]
        assert [a.cluster for a in failed.value.result.accounts] == ["dev"]
        assert resources.count_documents({"cloud_account_id": org.account_ids[1]}) == 6
        assert resources.count_documents({"cloud_account_id": org.account_ids[0]}) == 0

    def test_given_expenses_failing_then_the_error_names_the_store_and_is_recorded(
        self,
        run: Any,
        make_config: Any,
        stores: Stores,
        mysql: Any,
        resources: Any,
        ch_client: Any,
        expenses_db: str,
        marts_db: str,
    ) -> None:
        sandbox.write_marts(ch_client, marts_db, clusters())
        project(make_config(), stores=stores, create_expenses_table=True, now=NOW)
        sandbox.write_marts(ch_client, marts_db, clusters(days=4))
        broken = dataclasses.replace(stores, expenses=FlakyExpenses(ch_client))
        (before,) = fetch(
            mysql,
            "SELECT id, created_at, deleted_at, observe_time, last_discovery_at, enabled "
            "FROM discovery_info",
        )

        with pytest.raises(ProjectionFailed) as failed:
            project(make_config(), stores=broken, now=NOW + DAY)

        assert "ClickHouse expenses failed" in str(failed.value)
        assert "ClickHouse went away" in str(failed.value)
        columns = "id, created_at, deleted_at, observe_time, last_discovery_at, enabled"
        (row,) = fetch(mysql, f"SELECT last_error_at, last_error, {columns} FROM discovery_info")
        assert row[0] > 0
        assert row[1].startswith("ClickHouse expenses failed") and len(row[1]) == 255
        assert row[2:] == before  # nothing else changed
        # Mongo is consistent on its own: one document per resource, none duplicated.
        assert resources.count_documents({}) == len(set(name(d) for d in resources.find({})))

        result = project(make_config(), stores=stores, now=NOW + DAY)

        assert result.accounts[0].expenses.new_days == 6
        (row,) = fetch(mysql, "SELECT last_discovery_at FROM discovery_info")
        assert row[0] == NOW + DAY

    def test_given_another_run_holds_the_lock_then_nothing_is_written(
        self,
        make_config: Any,
        stores: Stores,
        mysql_url: str,
        resources: Any,
        marts_db: str,
        ch_client: Any,
        org: Any,
        mysql: Any,
    ) -> None:
        sandbox.write_marts(ch_client, marts_db, clusters())
        holder = connect(mysql_url)
        fetch(holder, "SELECT GET_LOCK(%s, 0)", f"kubecost-hook:{org.account_ids[0]}")

        with pytest.raises(ProjectionFailed) as failed:
            project(make_config(), stores=stores, create_expenses_table=True, now=NOW)

        assert isinstance(failed.value.errors[0], LockBusyError)
        assert resources.count_documents({}) == 0
        assert fetch(mysql, "SELECT count(*) FROM discovery_info") == [(0,)]
        holder.close()

    def test_given_a_concurrent_run_then_the_second_waits_for_the_first(
        self,
        make_config: Any,
        stores: Stores,
        mysql_url: str,
        resources: Any,
        marts_db: str,
        ch_client: Any,
        org: Any,
    ) -> None:
        sandbox.write_marts(ch_client, marts_db, clusters())
        holder = connect(mysql_url)
        fetch(holder, "SELECT GET_LOCK(%s, 0)", f"kubecost-hook:{org.account_ids[0]}")
        timer = threading.Timer(0.5, holder.close)  # the first run ends: its session closes
        timer.start()

        result = project(
            make_config(lock_timeout=10), stores=stores, create_expenses_table=True, now=NOW
        )

        timer.join()
        assert result.accounts[0].resources.inserts == 14

    def test_given_no_root_pool_owner_then_config_error_names_the_fix(
        self, make_config: Any, stores: Stores, mysql: Any, marts_db: str, ch_client: Any
    ) -> None:
        sandbox.write_marts(ch_client, marts_db, clusters())
        with mysql.cursor() as cur:
            cur.execute("UPDATE pool SET default_owner_id = NULL")

        with pytest.raises(ProjectionFailed) as failed:
            project(make_config(), stores=stores, create_expenses_table=True, now=NOW)

        assert isinstance(failed.value.errors[0], ConfigError)
        assert "set pool_id and employee_id" in str(failed.value)

    def test_given_design_document_expenses_table_then_refused(
        self, make_config: Any, stores: Stores, marts_db: str, ch_client: Any, expenses_db: str
    ) -> None:
        sandbox.write_marts(ch_client, marts_db, clusters())
        ch_client.command(
            "CREATE TABLE {db:Identifier}.expenses (cloud_account_id String, resource_id String, "
            "date Date, cost Float64, sign Int8, k8s_namespace Nullable(String)) "
            "ENGINE = CollapsingMergeTree(sign) PARTITION BY toYYYYMM(date) "
            "ORDER BY (cloud_account_id, resource_id, date)",
            parameters={"db": expenses_db},
        )

        with pytest.raises(StoreError, match="neither OptScale's table nor CloudTuner's") as failed:
            project(make_config(), stores=stores, now=NOW)

        assert "ClickHouse expenses" in str(failed.value)


class TestDryRun:
    def test_given_dry_run_then_the_plan_is_complete_and_nothing_is_written(
        self,
        run: Any,
        make_config: Any,
        stores: Stores,
        resources: Any,
        mysql: Any,
        ch_client: Any,
        expenses_db: str,
        marts_db: str,
    ) -> None:
        marts = clusters()
        run(marts)
        marts[0].overrides[(marts[0].pods[0].key, START)] = 9.0
        marts[0].pods.pop()
        sandbox.write_marts(ch_client, marts_db, marts)
        before = snapshot(ch_client, expenses_db, resources, mysql)

        result = project(make_config(), stores=stores, dry_run=True, now=NOW + DAY)

        plan = result.accounts[0]
        # 5 pods' heartbeats; roll-ups whose costs moved: the cluster, node-0 and ns-0 (the
        # restated pod 0), node-2 and ns-1 (the gone pod 5); pod 5 deactivated
        assert (plan.resources.updates, plan.resources.deactivations) == (5 + 1 + 2 + 2, 1)
        assert plan.expenses.corrections == 1 + 3  # the restated day, the gone pod's 3 days
        assert "1 corrections" not in result.summary() and "deactivations" in result.summary()
        assert snapshot(ch_client, expenses_db, resources, mysql) == before
