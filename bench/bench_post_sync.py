"""Benchmark of the CloudTuner hook: the daily run over 100,000 pods and 30 days of history.

Builds the two marts in a fresh embedded ClickHouse (chDB) with SQL (100k pods x 30 days =
3M pod-day rows plus node/namespace/cluster roll-ups), runs the hook once to fill empty
stores, then rebuilds the marts as the next day's dbt build would leave them (a new day, the
last 3 days restated for 10 % of pods, 1 % of pods gone, 1,000 new pods) and times the daily
run. Reports time, round trips per store and peak RSS, as Markdown.

Stores: chDB for both ClickHouse sides and the local MariaDB are real. No MongoDB server can
run here and mongomock scans every document on every operation (O(n^2) at this size), so
MongoDB is `DictMongo` below: an indexed in-memory stand-in with the same update semantics.
Its time is Python dict work, not a server's; the Mongo numbers to read are the round trips.

    .venv/bin/python bench/bench_post_sync.py [--pods 100000] [--days 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubecost_pipeline.post_sync import Stores, load_config, project, sandbox  # noqa: E402
from kubecost_pipeline.post_sync.discovery import connect  # noqa: E402
from kubecost_pipeline.post_sync.settings import OWN_FIELD  # noqa: E402

# The local MariaDB the tests use (root conftest's TEST_MYSQL_* variables).
MYSQL_ROOT = "mysql://{user}{password}@{host}:{port}".format(
    user=os.environ.get("TEST_MYSQL_USER", "root"),
    password=f":{os.environ['TEST_MYSQL_PASSWORD']}"
    if os.environ.get("TEST_MYSQL_PASSWORD")
    else "",
    host=os.environ.get("TEST_MYSQL_HOST", "127.0.0.1"),
    port=os.environ.get("TEST_MYSQL_PORT", "3306"),
)

# v = 0: the first sync (days 0..D-1, pods 0..P-1). v = 1: the next day's marts: day D added
# (without pods p % 100 = 1, with 1,000 new pods), days D-3..D-1 restated +1 % for p % 10 = 0.
POD_DAYS_SQL = """
INSERT INTO {db:Identifier}.k8s_expenses_daily
    (date, cluster, level, resource_key, k8s_namespace, k8s_node, k8s_service,
     cpu_cost, ram_cost, total_cost, idle_cost, total_cost_with_idle)
SELECT toDate('2026-09-01') + d, 'prod', 'pod',
       concat('ns-', toString(p % 200), '/pod-', toString(p)), concat('ns-', toString(p % 200)),
       concat('node-', toString(p % {nodes:UInt32})), concat('svc-', toString(p % 500)),
       cost * 0.6, cost * 0.4, cost, 0, cost
FROM (
    SELECT intDiv(number, {d2:UInt32}) AS p, number % {d2:UInt32} AS d,
           (0.01 + (p % 97) * 0.0137)
               * if({v:UInt8} = 1 AND d >= {days:UInt32} - 3 AND p % 10 = 0, 1.01, 1) AS cost
    FROM numbers({p2:UInt64} * {d2:UInt32})
)
WHERE (p < {pods:UInt32} AND d < {days:UInt32})
   OR ({v:UInt8} = 1 AND d = {days:UInt32} AND (p >= {pods:UInt32} OR p % 100 != 1))
"""
ROLLUP_SQL = """
INSERT INTO {db:Identifier}.k8s_expenses_daily
    (date, cluster, level, resource_key, k8s_namespace, k8s_node, k8s_service,
     cpu_cost, ram_cost, total_cost, idle_cost, total_cost_with_idle)
SELECT date, cluster, {level:String}, key, if({level:String} = 'namespace', key, ''),
       if({level:String} = 'node', key, ''), '', sum(cpu_cost), sum(ram_cost), sum(total_cost),
       {idle:Float64} * if({level:String} = 'cluster', uniqExact(k8s_node), 1),
       sum(total_cost) + {idle:Float64} * if({level:String} = 'cluster', uniqExact(k8s_node), 1)
FROM {db:Identifier}.k8s_expenses_daily
ARRAY JOIN [multiIf({level:String} = 'namespace', k8s_namespace,
                    {level:String} = 'node', k8s_node, cluster)] AS key
WHERE level = 'pod'
GROUP BY date, cluster, key
"""
RESOURCES_SQL = """
INSERT INTO {db:Identifier}.k8s_resources
    (cluster, level, resource_key, resource_name, k8s_namespace, k8s_node, k8s_service,
     first_seen_date, last_seen_date, first_seen_at, last_seen_at, total_cost, cpu_cost,
     ram_cost, idle_cost, last_day_cost, cpu_efficiency, ram_efficiency, total_efficiency,
     labels, instance_type, region, capacity_cpu_cores, capacity_ram_bytes, controller_kind,
     controller, containers, recommended_cpu_cores, recommended_ram_bytes, monthly_saving)
SELECT cluster, level, resource_key, splitByChar('/', resource_key)[-1], any(k8s_namespace),
       any(k8s_node), any(k8s_service), min(date), max(date),
       toDateTime(min(date)) + 8 * 3600, toDateTime(max(date)) + 20 * 3600,
       sum(total_cost), sum(cpu_cost), sum(ram_cost), sum(idle_cost), argMax(total_cost, date),
       0.4, 0.5, 0.45,
       if(level = 'pod', map('app', splitByChar('-', resource_key)[1], 'team', 'payments'), map()),
       if(level = 'node', 'm5.large', ''), 'eu-west-1', if(level = 'node', 2, 0),
       if(level = 'node', 8589934592, 0), if(level = 'pod', 'deployment', ''),
       if(level = 'pod', concat('deploy-', toString(cityHash64(resource_key) % 5000)), ''),
       if(level = 'pod', '[{"name":"main","cpu_request_cores":0.25}]', '[]'),
       0.1, 134217728, sum(total_cost) * 0.3
FROM {db:Identifier}.k8s_expenses_daily
GROUP BY cluster, level, resource_key
"""


def build_marts(client: Any, db: str, pods: int, days: int, version: int) -> float:
    started = time.monotonic()
    sandbox.create_marts(client, db)
    params = {
        "db": db,
        "pods": pods,
        "days": days,
        "v": version,
        "p2": pods + 1000 * version,
        "d2": days + version,
        "nodes": max(1, pods // 30),
    }
    client.command(POD_DAYS_SQL, parameters=params)
    for level in ("namespace", "node", "cluster"):
        client.command(ROLLUP_SQL, parameters={"db": db, "level": level, "idle": 0.5})
    client.command(RESOURCES_SQL, parameters={"db": db})
    return time.monotonic() - started


class DictCollection:
    """`restapi.resources` as two dict indexes (_id; account + cloud_resource_id +
    deleted_at), applying `$set`/`$setOnInsert`/`$min`/`$max`/`$unset` like MongoDB."""

    full_name = "restapi.resources"

    def __init__(self) -> None:
        self.by_id: dict[str, dict] = {}
        self.by_key: dict[tuple, str] = {}
        self.seconds = 0.0  # spent applying writes: a server's work, not the hook's

    def index_information(self) -> dict:
        return {"_id_": {}, "OptResourceUnique": {"unique": True}}

    def find(self, query: dict, projection: dict) -> Any:
        """The hook's one query: its documents of an account (`kubecost.level` exists)."""
        found = [
            d
            for d in self.by_id.values()
            if d["cloud_account_id"] == query["cloud_account_id"]
            and d["deleted_at"] == query["deleted_at"]
            and "level" in d.get(OWN_FIELD, {})
        ]
        return type("Cursor", (), {"batch_size": lambda self, n: iter(found)})()

    def bulk_write(self, ops: list, ordered: bool = True) -> Any:
        started = time.monotonic()
        try:
            return self._apply(ops)
        finally:
            self.seconds += time.monotonic() - started

    def _apply(self, ops: list) -> Any:
        upserted = 0
        for op in ops:
            flt, update = op._filter, op._doc  # bench-only: read the pymongo operation
            if "_id" in flt:
                doc = self.by_id.get(flt["_id"])
            else:
                doc = self.by_id.get(self.by_key.get(self._key(flt), ""))
            if doc is None:
                if not op._upsert:
                    continue
                doc = {**flt, **update.get("$setOnInsert", {})}
                self.by_id[doc["_id"]] = doc
                self.by_key[self._key(doc)] = doc["_id"]
                upserted += 1
            for path, value in update.get("$set", {}).items():
                self._put(doc, path, value)
            for path, value in update.get("$min", {}).items():
                doc[path] = min(doc.get(path, value), value)
            for path, value in update.get("$max", {}).items():
                doc[path] = max(doc.get(path, value), value)
            for path in update.get("$unset", {}):
                doc.pop(path, None)
        return type("Result", (), {"upserted_count": upserted})()

    @staticmethod
    def _key(doc: dict) -> tuple:
        return doc["cloud_account_id"], doc["cloud_resource_id"], doc["deleted_at"]

    @staticmethod
    def _put(doc: dict, path: str, value: Any) -> None:
        *parents, leaf = path.split(".")
        for part in parents:
            doc = doc.setdefault(part, {})
        doc[leaf] = value


class DictMongo:
    def __init__(self) -> None:
        self.collection = DictCollection()

    def __getitem__(self, db: str) -> Any:
        return {"resources": self.collection}


def timed(run: Any) -> tuple[Any, tuple[float, float]]:
    """The result of `run()` and its (wall, CPU) seconds; CPU includes chDB's threads and
    says more than wall time on a shared machine."""
    wall, cpu = time.monotonic(), time.process_time()
    result = run()
    return result, (time.monotonic() - wall, time.process_time() - cpu)


class PeakRss:
    """Samples this process's RSS every 20 ms while running."""

    def __enter__(self) -> PeakRss:
        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()


def measure(pods: int, days: int) -> dict[str, Any]:
    """One history in fresh stores: the first run, the daily run, an unchanged rerun."""
    import clickhouse_connect

    workdir = Path(tempfile.mkdtemp(prefix="bench_post_sync_"))
    mysql_db = f"bench_post_sync_{uuid.uuid4().hex[:8]}"
    root = connect(MYSQL_ROOT)
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{mysql_db}`")
    try:
        url = f"chdb://{workdir}"
        client = clickhouse_connect.get_client(dsn=url)
        conn = connect(f"{MYSQL_ROOT}/{mysql_db}")
        sandbox.create_mysql_tables(conn)
        org = sandbox.seed_organization(conn)
        conn.close()
        config = load_config(
            environ={},
            overrides={
                "marts_url": url,
                "marts_database": "marts",
                "mongodb_uri": "mongodb://bench.invalid",
                "mysql_url": f"{MYSQL_ROOT}/{mysql_db}",
                "expenses_database": "cloudtuner",
                "cluster_accounts": {"prod": org.account_ids[0]},
            },
        )
        client.command("CREATE DATABASE cloudtuner")
        mongo = DictMongo()
        stores = Stores(client, client, mongo, lambda: connect(config.mysql_url))
        now = int(time.time())

        build_first = build_marts(client, "marts", pods, days, 0)
        first, first_s = timed(
            lambda: project(config, stores=stores, create_expenses_table=True, now=now)
        )
        build_daily = build_marts(client, "marts", pods, days, 1)
        mongo.collection.seconds = 0.0
        with PeakRss() as rss:
            daily, daily_s = timed(lambda: project(config, stores=stores, now=now + 86_400))
        stand_in = mongo.collection.seconds
        again, again_s = timed(lambda: project(config, stores=stores, now=now + 86_400))
        (rows,) = client.query("SELECT count() FROM cloudtuner.expenses").result_rows[0]
        client.close()
    finally:
        with root.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{mysql_db}`")
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "runs": [("first (empty stores)", first_s, first), ("daily (next day's marts)",
                 daily_s, daily), ("rerun (unchanged)", again_s, again)],
        "build": (build_first, build_daily),
        "rows": rows,
        "stand_in": stand_in,
        "peak": rss.peak,
        "load": psutil.getloadavg(),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=1, help="histories to measure")
    args = parser.parse_args()

    measured = [measure(args.pods, args.days) for _ in range(args.repeat)]
    last = measured[-1]

    def line(name: str, seconds: tuple[float, float], result: Any) -> str:
        r, e = result.accounts[0].resources, result.accounts[0].expenses
        trips = result.round_trips
        steps = result.step_seconds
        return (
            f"| {name} | {seconds[0]:.1f} | {seconds[1]:.1f} | {steps.get('documents', 0):.1f} | "
            f"{steps.get('expenses', 0):.1f} | {steps.get('totals', 0):.1f} | "
            f"{r.inserts:,} / {r.updates:,} / {r.deactivations:,} / {r.totals:,} | "
            f"{e.new_days:,} / {e.corrections:,} / {e.rows:,} | {trips.get('marts', 0)} | "
            f"{trips.get('mongodb', 0)} | {trips.get('expenses', 0)} | {trips.get('mysql', 0)} |"
        )

    def spread(index: int, which: int) -> str:
        values = [m["runs"][index][1][which] for m in measured]
        return f"{statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})"

    print(
        "\n".join(
            [
                "## bench_post_sync: CloudTuner hook",
                "",
                f"{args.pods:,} pods x {args.days} days; marts built in chDB in "
                f"{last['build'][0]:.1f} s (first) and {last['build'][1]:.1f} s (next day). "
                f"`expenses` holds {last['rows']:,} rows after the runs. MongoDB is the "
                "in-memory stand-in (no server here): its column counts requests, not server "
                "time. The table is the last of the histories measured.",
                "",
                "| run | wall s | CPU s | documents step s | expenses step s | totals step s | "
                "docs insert / update / deactivate / totals | expense new days / corrections "
                "/ rows | marts trips | mongodb trips | expenses trips | mysql trips |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|",
                *(line(name, seconds, result) for name, seconds, result in last["runs"]),
                "",
                f"Daily run over {len(measured)} histories: wall {spread(1, 0)}, CPU "
                f"{spread(1, 1)} (median, min-max). Of the last daily run, "
                f"{last['stand_in']:.1f} s went to the Mongo stand-in applying the updates "
                "(a server's work).",
                "",
                f"Peak RSS during the daily run: {last['peak'] / 2**20:,.0f} MiB (whole process, "
                "chDB engine and the Mongo stand-in's documents included). Load average "
                f"after the runs: {' / '.join(f'{x:.1f}' for x in last['load'])} on "
                f"{psutil.cpu_count()} cores.",
            ]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
