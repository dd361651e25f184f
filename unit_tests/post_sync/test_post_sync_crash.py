"""Killed at any write, the next run converges to the state of an uninterrupted run.

A `Crash` (a BaseException, so no handler of the hook sees it, as with SIGKILL) is raised at
the k-th write of a two-run history, for every k: MongoDB bulk writes apply half their
operations first (an unordered batch cut short), ClickHouse INSERTs and the final MySQL
update are lost whole.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from kubecost_pipeline.post_sync import Stores, project, sandbox
from kubecost_pipeline.post_sync.discovery import Discovery

pytestmark = pytest.mark.slow  # dbt builds, real processes: `make test` only

NOW = 1_793_000_000
START = date(2026, 10, 1)


class Crash(BaseException):
    pass


class Budget:
    def __init__(self, crash_at: int | None):
        self.crash_at, self.writes = crash_at, 0

    def spend(self) -> bool:
        self.writes += 1
        return self.writes == self.crash_at


class CrashingCollection:
    def __init__(self, collection: Any, budget: Budget):
        self.collection, self.budget = collection, budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    def bulk_write(self, ops: list, **kwargs: Any) -> Any:
        if self.budget.spend():
            self.collection.bulk_write(ops[: len(ops) // 2] or ops[:1], **kwargs)
            raise Crash
        return self.collection.bulk_write(ops, **kwargs)


class CrashingMongo:
    def __init__(self, client: Any, budget: Budget):
        self.client, self.budget = client, budget

    def __getitem__(self, db: str) -> Any:
        return {"resources": CrashingCollection(self.client[db]["resources"], self.budget)}


class CrashingClickHouse:
    def __init__(self, client: Any, budget: Budget):
        self.client, self.budget = client, budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        if self.budget.spend():
            raise Crash
        return self.client.insert(*args, **kwargs)


def history(ch: Any) -> list[str]:
    """Two marts databases: a first sync, then a day later with a restated day, a new day and
    a pod gone."""
    first = sandbox.synthetic_cluster("prod-eu", START, 3, 6)
    second = sandbox.synthetic_cluster("prod-eu", START, 4, 6)
    second.overrides[(second.pods[1].key, START + timedelta(days=1))] = 0.5
    second.pods.pop()
    names = [f"marts_{i}_{uuid.uuid4().hex[:8]}" for i in range(2)]
    for name, cluster in zip(names, (first, second), strict=True):
        sandbox.write_marts(ch, name, [cluster])
    return names


@pytest.fixture
def marts_history(ch_client: Any) -> Any:
    names = history(ch_client)
    yield names
    for name in names:
        ch_client.command("DROP DATABASE IF EXISTS {db:Identifier}", parameters={"db": name})


def test_given_a_crash_at_any_write_when_rerun_then_state_equals_an_uninterrupted_run(
    make_config: Any,
    stores: Stores,
    marts_history: list[str],
    ch_client: Any,
    expenses_db: str,
    mysql: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configs = [
        make_config(marts_database=db, batch_size=4, chunk_rows=6, cluster_accounts={
            "prod-eu": make_config().cluster_accounts["prod-eu"]})
        for db in marts_history
    ]  # fmt: skip
    budget = Budget(None)
    succeeded = Discovery.succeeded

    def crashing_succeeded(self: Discovery, *args: Any) -> None:
        if budget.spend():
            raise Crash
        succeeded(self, *args)

    monkeypatch.setattr(Discovery, "succeeded", crashing_succeeded)

    def replay(crash_at: int | None) -> tuple[dict, int]:
        budget.crash_at, budget.writes = crash_at, 0
        mongo = sandbox.mongomock_client()
        sandbox.create_mongo_indexes(mongo["restapi"]["resources"])
        ch_client.command(
            "DROP TABLE IF EXISTS {db:Identifier}.expenses", parameters={"db": expenses_db}
        )
        with mysql.cursor() as cur:
            cur.execute("DELETE FROM discovery_info")
        crashing = dataclasses.replace(
            stores,
            mongo=CrashingMongo(mongo, budget),
            expenses=CrashingClickHouse(ch_client, budget),
        )
        crashed = 0
        for step, config in enumerate(configs):
            now = NOW + step * 86_400
            try:
                project(config, stores=crashing, create_expenses_table=True, now=now)
            except Crash:
                crashed += 1
                project(config, stores=crashing, create_expenses_table=True, now=now)
        return state(mongo["restapi"]["resources"], ch_client, expenses_db, mysql), crashed

    reference, _ = replay(None)
    writes = budget.writes
    assert writes >= 10  # enough write points for the test to mean something

    for crash_at in range(1, writes + 1):
        converged, crashed = replay(crash_at)
        assert crashed == 1, crash_at
        assert converged == reference, f"diverged after a crash at write {crash_at}"


def state(resources: Any, ch: Any, db: str, mysql: Any) -> dict:
    found = list(resources.find({}))
    docs = {d["cloud_resource_id"]: d for d in found}
    assert len(docs) == len(found), "a document was created twice"
    ids = {d.pop("_id"): crid for crid, d in docs.items()}
    for d in docs.values():  # ClickHouse sums rows in any order: the last bits vary
        d["total_cost"] = round(d["total_cost"], 9)
        if "last_expense" in d:
            d["last_expense"]["cost"] = round(d["last_expense"]["cost"], 9)
    rows = ch.query(
        "SELECT resource_id, toUnixTimestamp(date), round(SUM(cost * sign), 9) "
        "FROM {db:Identifier}.expenses GROUP BY resource_id, date HAVING SUM(sign) > 0",
        parameters={"db": db},
    ).result_rows
    with mysql.cursor() as cur:
        cur.execute("SELECT resource_type, last_discovery_at, last_error FROM discovery_info")
        discovery = sorted(cur.fetchall())
    return {
        "docs": docs,
        "expenses": sorted((ids[r], d, c) for r, d, c in rows),
        "discovery": discovery,
    }
