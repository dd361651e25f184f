"""OptScale's own services on what `kubecost-pipeline project` writes, over four runs.

The hook writes into stores OptScale made: its MySQL tables from its own SQLAlchemy models
(in a fresh MariaDB database), cloud accounts created by its CloudAccountController, its
`expenses` table from diworker's migration (and CloudTuner's three k8s columns on top, in the
second shape). Then OptScale's code, from ../shared/optscale at 4617ceb9, runs on the result
in its own environment (`make .venv-optscale/.installed`; `integration_tests/optscale/
driver.py`): the
resource observer, the discovery endpoint, the discovery scheduler and worker (over real
HTTP), the clean-expense, summary, breakdown and cloud-account expense controllers, diworker's
totals and the k8s rightsizing controller. Their answers are compared with the marts' inputs:
two clusters whose pods share names, a pseudo `__unmounted__` pod in each, restated days,
stopped pods and a pod that vanished from the marts.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import json_util
from bson.json_util import JSONOptions

from kubecost_pipeline.post_sync import Stores, load_config, project, sandbox
from kubecost_pipeline.post_sync.discovery import connect

ROOT = Path(__file__).resolve().parents[1]
OPTSCALE_SOURCE = ROOT.parent / "shared" / "optscale"
OPTSCALE_PYTHON = ROOT / ".venv-optscale" / "bin" / "python"
DRIVER = Path(__file__).resolve().parent / "optscale" / "driver.py"
JSON = JSONOptions(tz_aware=False)
DAY = 86_400
START = date(2026, 10, 1)
CLUSTERS = ("prod-eu", "prod-us")  # both run the same pod names (StatefulSet-like)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not OPTSCALE_SOURCE.is_dir(),
        reason=f"OptScale's source is not at {OPTSCALE_SOURCE} (../shared/optscale)",
    ),
]


def midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


class OptScale:
    """Runs OptScale's code (driver.py, in OptScale's environment) on the hook's stores."""

    def __init__(self, database: str, workdir: Path):
        if not OPTSCALE_PYTHON.exists():
            pytest.fail(
                f"OptScale's environment is missing: run `make .venv-optscale/.installed` in {ROOT}"
            )
        self.database, self.workdir, self.calls = database, workdir, 0
        self.mysql = {  # the root conftest's server
            "host": os.environ.get("TEST_MYSQL_HOST", "127.0.0.1"),
            "port": int(os.environ.get("TEST_MYSQL_PORT", "3306")),
            "user": os.environ.get("TEST_MYSQL_USER", "root"),
            "password": os.environ.get("TEST_MYSQL_PASSWORD", ""),
            "database": database,
        }

    @property
    def mysql_url(self) -> str:
        m = self.mysql
        auth = m["user"] + (f":{m['password']}" if m["password"] else "")
        return f"mysql://{auth}@{m['host']}:{m['port']}/{m['database']}"

    def run(self, steps: list[dict[str, Any]], stores: HookStores | None = None) -> dict:
        request: dict[str, Any] = {"mysql": self.mysql, "steps": steps}
        if stores is not None:
            request["mongo"] = json_util.dumps(list(stores.resources.find({})))
            request["expenses"] = stores.expense_rows()
        self.calls += 1
        path = self.workdir / f"request-{self.calls}.json"
        path.write_text(json.dumps(request))
        env = {**os.environ, "OPTSCALE_SOURCE": str(OPTSCALE_SOURCE),
               "PYTHONPYCACHEPREFIX": str(ROOT / ".venv-optscale" / "pycache"),
               "PYTHONWARNINGS": "ignore"}  # fmt: skip
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # OptScale's modules: compiled once, cached
        done = subprocess.run(
            [str(OPTSCALE_PYTHON), str(DRIVER), str(path)],
            capture_output=True, text=True, timeout=600, env=env, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"OptScale's driver failed:\n{done.stderr[-4000:]}")
        answer = json.loads(done.stdout)
        errors = [(s["op"], r["error"]) for s, r in zip(steps, answer["results"], strict=True)
                  if "error" in r]  # fmt: skip
        assert not errors, (
            f"OptScale's code failed on the hook's output: {errors}\n" + (done.stderr[-3000:])
        )
        if stores is not None:  # what OptScale's services changed, back to the hook's stores
            stores.resources.delete_many({})
            docs = json_util.loads(answer["mongo"], json_options=JSON)
            if docs:
                stores.resources.insert_many(docs)
        return answer


@dataclass
class HookStores:
    ch: Any
    expenses_db: str
    resources: Any

    def expense_rows(self) -> dict[str, Any]:
        """The table's columns and its rows part by part, in insertion order: a collapsing
        table keeps the last +1 of a key, so the order of rows is part of its state."""
        columns = self.ch.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String} "
            "AND table = 'expenses' ORDER BY position",
            parameters={"db": self.expenses_db},
        ).result_rows
        names = [n for n, _ in columns]
        select = ", ".join(f"toUnixTimestamp({n})" if n == "date" else n for n in names)
        rows = self.ch.query(
            f"SELECT _part, _part_offset, {select} FROM {{db:Identifier}}.expenses",
            parameters={"db": self.expenses_db},  # names from system.columns
        ).result_rows
        parts: dict[str, list[tuple[int, list[Any]]]] = defaultdict(list)
        for part, offset, *values in rows:
            parts[part].append((offset, values))
        by_block = sorted(parts, key=lambda p: int(p.split("_")[-3]))  # <partition>_<min>_...
        return {
            "columns": [list(c) for c in columns],
            "parts": [[v for _, v in sorted(parts[p])] for p in by_block],
        }


@dataclass
class History:
    """The marts' inputs of each run, and what is expected of them (no hook code involved)."""

    clusters: list[sandbox.Cluster]
    accounts: dict[str, str] = field(default_factory=dict)

    def pod_costs(self) -> dict[tuple[str, str, date], float]:
        """(account, namespace/pod, day) -> cost, every pod-day of the marts."""
        return {
            (self.accounts[c.name], p.key, day): c.pod_cost(p, day)
            for c in self.clusters
            for p in c.pods
            for day in p.days
        }

    def days(self) -> list[date]:
        return sorted({d for c in self.clusters for p in c.pods for d in p.days})

    def active_pods(self) -> set[tuple[str, str]]:
        """(account, namespace/pod) of real pods with cost on their cluster's latest day."""
        found = set()
        for c in self.clusters:
            horizon = max(d for p in c.pods for d in p.days)
            found |= {(self.accounts[c.name], p.key) for p in c.pods
                      if horizon in p.days and not p.name.startswith("__")}  # fmt: skip
        return found


def two_clusters(days: int) -> list[sandbox.Cluster]:
    clusters = []
    for name in CLUSTERS:
        cluster = sandbox.synthetic_cluster(name, START, days, pods=5, nodes=2, namespaces=2)
        span = list(cluster.pods[0].days)
        cluster.pods.append(
            sandbox.Pod("__unmounted__", "__unmounted__", "", list(span), cost=0.125)
        )
        clusters.append(cluster)
    return clusters


def project_run(history: History, stores: Stores, config: Any, marts_db: str, now: int) -> None:
    sandbox.write_marts(stores.marts, marts_db, history.clusters)
    project(config, stores=stores, create_expenses_table=True, now=now)


def expense_steps(history: History, organization_id: str) -> list[dict[str, Any]]:
    days = history.days()
    start, end = midnight(days[0]), midnight(days[-1]) + DAY - 1
    steps: list[dict[str, Any]] = [
        {"op": "clean_expenses", "organization_id": organization_id, "start": midnight(d),
         "end": midnight(d) + DAY - 1, "filters": {}}
        for d in days
    ]  # fmt: skip
    steps += [
        {"op": "summary", "organization_id": organization_id, "start": start, "end": end,
         "filters": {}},
        {"op": "breakdown", "organization_id": organization_id, "start": start, "end": end,
         "breakdown_by": "k8s_namespace"},
    ]  # fmt: skip
    steps += [
        {"op": "cloud_expenses", "account_id": account, "start": start, "end": end,
         "filter_by": "k8s_namespace"}
        for account in history.accounts.values()
    ]  # fmt: skip
    return steps


def check_expenses(history: History, answers: list[dict], resources: Any) -> None:
    """clean_expenses per day, summary, breakdown and cloud-account expenses == the marts."""
    pod_costs = history.pod_costs()
    names = {d["_id"]: (d["cloud_account_id"], d["kubecost"]["resource_key"])
             for d in resources.find({}, ["cloud_account_id", "kubecost"])}  # fmt: skip
    days = history.days()
    for day, answer in zip(days, answers, strict=False):
        listed = answer["ok"]["clean_expenses"]
        got = {names[e["resource_id"]]: e["cost"] for e in listed if e["cost"]}
        want = {(a, k): c for (a, k, d), c in pod_costs.items() if d == day and c}
        assert got == pytest.approx(want, abs=1e-6), day
        assert answer["ok"]["total_cost"] == pytest.approx(sum(want.values()), abs=1e-6)
        types = {e["resource_type"] for e in listed}
        assert types <= {"K8s Pod", "K8s Unmounted Volumes"}, types  # no roll-up is listed
    summary, breakdown, *cloud = answers[len(days) :]
    total = sum(pod_costs.values())
    assert summary["ok"]["total_cost"] == pytest.approx(total, abs=1e-6)
    by_namespace: dict[str, float] = defaultdict(float)
    for (_, key, _), cost in pod_costs.items():
        by_namespace[key.split("/")[0]] += cost
    got_namespaces = {k: v["total"] for k, v in breakdown["ok"]["counts"].items()}
    assert got_namespaces == pytest.approx(dict(by_namespace), abs=1e-6)
    assert breakdown["ok"]["total"] == pytest.approx(total, abs=1e-6)
    for account, answer in zip(history.accounts.values(), cloud, strict=True):
        expenses = answer["ok"]["expenses"]
        account_costs = {k: c for k, c in pod_costs.items() if k[0] == account}
        assert expenses["total"] == pytest.approx(sum(account_costs.values()), abs=1e-6)
        per_namespace: dict[str, float] = defaultdict(float)
        for (_, key, _), cost in account_costs.items():
            per_namespace[key.split("/")[0]] += cost
        got = {e["name"]: e["total"] for e in expenses["k8s_namespace"]}
        assert got == pytest.approx(dict(per_namespace), abs=1e-6)


def check_resources(history: History, answers: dict[str, Any], resources: Any) -> None:
    """Observer, discovery endpoint, diworker totals and rightsizing agree with the marts."""
    active = history.active_pods()
    pods = {(d["cloud_account_id"], d["kubecost"]["resource_key"]): d
            for d in resources.find({"resource_type": "K8s Pod"})}  # fmt: skip
    # The observer kept exactly the marts' running pods active, in both clusters.
    assert {k for k, d in pods.items() if d.get("active") is True} == active
    discovered = {(r["cloud_account_id"], f"{r['k8s_namespace']}/{r['name']}")
                  for r in answers["discover"]["data"]}  # fmt: skip
    assert discovered == active
    # diworker's own totals of every resource equal what the hook wrote.
    for doc in resources.find({"kubecost.level": "pod"}):
        computed = answers["totals"][doc["cloud_account_id"]].get(doc["_id"])
        if computed is None:
            assert doc["total_cost"] == 0.0
            continue
        assert doc["total_cost"] == pytest.approx(computed[1], abs=1e-6)
        assert doc["last_expense"]["date"] == computed[0]
    # Rightsizing groups the running pods by app, namespace and cluster.
    apps = {(r["cloud_account_id"], r["name"], r["namespace"], r["cluster"])
            for r in answers["rightsizing"]["k8s_app_rightsizing"]}  # fmt: skip
    by_account = {a: c for c, a in history.accounts.items()}
    expected = {(a, key.split("/")[1].rsplit("-", 1)[0], key.split("/")[0], by_account[a])
                for a, key in active}  # fmt: skip
    assert apps == expected


@pytest.mark.timeout(900)  # five OptScale processes and four hook runs; slow on a busy machine
@pytest.mark.parametrize("shape", ["optscale", "cloudtuner"])
def test_given_four_runs_then_optscale_services_run_and_agree_with_the_marts(
    shape: str,
    mysql_database: str,
    ch_client: Any,
    ch_database: str,
    tmp_path: Path,
) -> None:
    optscale = OptScale(mysql_database, tmp_path)
    setup, schedule = optscale.run([{"op": "setup", "accounts": 2}, {"op": "schedule"}])["results"]
    org = setup["ok"]
    # OptScale's own default: accounts come with an enabled k8s_pod discovery, dispatched.
    assert sorted(schedule["ok"]["tasks"]) == sorted([a, "k8s_pod"] for a in org["account_ids"])
    history = History(two_clusters(days=3), dict(zip(CLUSTERS, org["account_ids"], strict=True)))
    expenses_db = f"{ch_database}_ct"
    ch_client.command("CREATE DATABASE {db:Identifier}", parameters={"db": expenses_db})
    if shape == "cloudtuner":  # diworker's table plus the Phase 3 guide's three columns
        ch_client.command(OPTSCALE_EXPENSES_DDL, parameters={"db": expenses_db})
        ch_client.command(CLOUDTUNER_K8S_COLUMNS, parameters={"db": expenses_db})
    mongo = sandbox.mongomock_client()
    sandbox.create_mongo_indexes(mongo["restapi"]["resources"])
    stores = Stores(marts=ch_client, expenses=ch_client, mongo=mongo,
                    mysql=lambda: connect(optscale.mysql_url))  # fmt: skip
    config = load_config(environ={}, overrides={
        "marts_url": "chdb:///unused", "marts_database": ch_database,
        "mongodb_uri": "mongodb://unused", "mysql_url": optscale.mysql_url,
        "expenses_database": expenses_db, "cluster_accounts": history.accounts,
    })  # fmt: skip
    hook = HookStores(ch_client, expenses_db, mongo["restapi"]["resources"])

    # Run 1; run 2 a day later: a day restated, a pod stopped; run 3: a pod vanished from the
    # marts (dbt restated it away), another returns; run 4: the latest day restated.
    for run in range(4):
        if run == 1:
            for c in history.clusters:
                c.pods[-1].days.append(START + timedelta(days=3))
                for p in c.pods[:-1]:
                    p.days.append(START + timedelta(days=3))
            eu = history.clusters[0]
            eu.overrides[(eu.pods[1].key, START + timedelta(days=1))] = 0.75
            eu.pods[2].days.pop()  # stopped: no cost on the latest day
        if run == 2:
            history.clusters[1].pods.pop(3)  # vanished from the marts altogether
            history.clusters[0].pods[2].days.append(START + timedelta(days=3))
        if run == 3:
            us = history.clusters[1]
            us.overrides[(us.pods[0].key, START + timedelta(days=3))] = 0.0
        now = midnight(START) + (4 + run) * DAY
        project_run(history, stores, config, ch_database, now)

        days = history.days()
        start, end = midnight(days[0]), midnight(days[-1]) + DAY - 1
        steps = [
            {"op": "observe", "organization_id": org["organization_id"]},
            {"op": "discover", "organization_id": org["organization_id"]},
            {"op": "schedule"},
            {"op": "discovery_worker", "tasks": [[a, "k8s_pod"] for a in org["account_ids"]]},
            *({"op": "diworker_totals", "account_id": a} for a in org["account_ids"]),
            {"op": "rightsizing", "organization_id": org["organization_id"], "start": start,
             "end": end, "metrics": rightsizing_metrics(hook.resources)},
            *expense_steps(history, org["organization_id"]),
        ]  # fmt: skip
        answer = optscale.run(steps, hook)
        results = [r["ok"] for r in answer["results"]]
        assert results[2]["tasks"] == []  # the scheduler dispatches no pod discovery for them
        assert all(row[2] == 0 and row[3] == now for row in answer["discovery_info"])
        named = {
            "discover": results[1],
            "totals": dict(zip(org["account_ids"], results[4:6], strict=True)),
            "rightsizing": results[6],
        }
        check_resources(history, named, hook.resources)
        check_expenses(history, answer["results"][7:], hook.resources)


def rightsizing_metrics(resources: Any) -> dict[str, list[dict[str, Any]]]:
    """What metroculus would answer: a sample of k8s metrics for every active pod."""
    metrics: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in resources.find({"resource_type": "K8s Pod", "active": True}):
        metrics[doc["cloud_account_id"]].append(
            {"resource_id": doc["_id"], "average_pod_cpu_used": 0.1, "pod_cpu_requests": 0.25}
        )
    return dict(metrics)


# diworker/diworker/migrations/202111031530000_clickhouse_database.py, and the CloudTuner
# Phase 3 guide's migration (202510311400000_add_k8s_dimensions.py), as written there.
OPTSCALE_EXPENSES_DDL = """
CREATE TABLE {db:Identifier}.expenses (
    cloud_account_id String,
    resource_id String,
    date DateTime,
    cost Float64,
    sign Int8)
ENGINE = CollapsingMergeTree(sign)
PARTITION BY toYYYYMM(date)
ORDER BY (cloud_account_id, date, resource_id)
"""
CLOUDTUNER_K8S_COLUMNS = """
ALTER TABLE {db:Identifier}.expenses
    ADD COLUMN IF NOT EXISTS k8s_namespace Nullable(String),
    ADD COLUMN IF NOT EXISTS k8s_node Nullable(String),
    ADD COLUMN IF NOT EXISTS k8s_service Nullable(String)
"""
