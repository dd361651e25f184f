"""End-to-end daily run of a 5,000-pod fleet: sync (new day + lookback), dbt build, hook.

The run users schedule every day, measured step by step. A simulated fleet of about 5,000
pods serves its history; a backfill brings every store up to date (reported, not the point);
then the simulator's clock moves one day forward, restating the last days as cloud billing
does, and the daily run is timed: the sync reads the new day plus the 3 lookback days, dbt
rebuilds the re-read days, the hook writes CloudTuner's three stores. CloudTuner's own
worker reports 30 to 60 seconds per account for its daily Kubernetes import.

Stores: embedded ClickHouse (chDB) and the local MariaDB are real; MongoDB is the
bench_post_sync in-memory stand-in (no server can run here; mongomock is O(n^2)).

    .venv/bin/python bench/bench_end_to_end.py [--pods 5000] [--history-days 14]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_post_sync import MYSQL_ROOT, DictMongo, PeakRss
from kubecost_pipeline import post_sync
from kubecost_pipeline.chain import PipelineConfig, run_chain
from kubecost_pipeline.post_sync import Stores, sandbox
from kubecost_pipeline.post_sync.discovery import connect
from kubecost_pipeline.progress import QUIET
from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer

CLUSTERS, NAMESPACES = 5, 20
START = date(2026, 10, 1)


def timed_chain(config: PipelineConfig, step: str) -> tuple[Any, float]:
    others = frozenset({"sync", "dbt", "project"} - {step})
    started = time.monotonic()
    outcome = run_chain(config, others, progress=QUIET)
    return outcome.get(step), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--history-days", type=int, default=14)
    args = parser.parse_args()

    fleet = Fleet(
        FleetSpec(
            seed=11,
            clusters=CLUSTERS,
            namespaces_per_cluster=NAMESPACES,
            pods_per_namespace=max(1, args.pods // (CLUSTERS * (NAMESPACES - 1))),
            start=START,
            days=args.history_days + 2,
        )
    )
    fleet.now = datetime.combine(START + timedelta(days=args.history_days), dtime(6), UTC)
    clusters = sorted(key[0] for key in fleet.truth(START, level="cluster"))
    pods = len(fleet.truth(START + timedelta(days=args.history_days - 1), level="pod"))

    mysql_db = f"bench_e2e_{uuid.uuid4().hex[:8]}"
    root = connect(MYSQL_ROOT)
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{mysql_db}`")
    rows: list[tuple[str, str, float, str]] = []
    try:
        conn = connect(f"{MYSQL_ROOT}/{mysql_db}")
        sandbox.create_mysql_tables(conn, k8s_types_migration=True)
        organization = sandbox.seed_organization(conn, accounts=len(clusters))
        conn.close()
        with (
            PeakRss() as rss,
            tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp,
            SimulatorServer(fleet, flavour="kubecost2") as server,
        ):
            url = f"chdb://{Path(tmp) / 'chdb'}"
            config = PipelineConfig(
                path=None,
                source={
                    "url": server.base_url,
                    "start_date": START.isoformat(),
                    "lookback_days": 3,
                },
                clickhouse_url=url,
            )
            hook_config = post_sync.load_config(
                None,
                environ={},
                overrides={
                    "marts_url": url,
                    "marts_database": config.marts,
                    "mongodb_uri": "mongodb://bench-stand-in",
                    "mysql_url": f"{MYSQL_ROOT}/{mysql_db}",
                    "expenses_database": "cloudtuner",
                    "cluster_accounts": dict(zip(clusters, organization.account_ids, strict=True)),
                },
            )
            mongo = DictMongo()

            def hook() -> tuple[Any, float]:
                import clickhouse_connect

                client = clickhouse_connect.get_client(dsn=url)
                stores = Stores(client, client, mongo, lambda: connect(hook_config.mysql_url))
                started = time.monotonic()
                result = post_sync.project(hook_config, stores=stores, create_expenses_table=True)
                took = time.monotonic() - started
                client.close()
                return result, took

            for run in ("backfill", "daily"):
                if run == "daily":
                    fleet.now += timedelta(days=1)
                # The fleet's clock is not the wall clock: end at the fleet's yesterday.
                yesterday = (fleet.now - timedelta(days=1)).date().isoformat()
                config = replace(config, source={**config.source, "end_date": yesterday})
                sync, sync_s = timed_chain(config, "sync")
                dbt, dbt_s = timed_chain(config, "dbt")
                projection, hook_s = hook()
                rows += [
                    (run, "sync", sync_s, f"{sync.records:,} records"),
                    (run, "dbt build", dbt_s, f"{dbt.nodes} nodes"),
                    (run, "hook", hook_s, _hook_detail(projection)),
                    (run, "total", sync_s + dbt_s + hook_s, ""),
                ]
    finally:
        with root.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{mysql_db}`")
        root.close()

    print("## End-to-end daily run (sync + dbt build + hook)")
    print()
    print(
        f"Fleet: {len(clusters)} clusters, {pods:,} pods on the last history day, "
        f"{args.history_days} days of history; lookback 3 days. `{' '.join(sys.argv)}`."
    )
    print()
    print("| run | step | seconds | detail |")
    print("|---|---|---|---|")
    for run, step, seconds, detail in rows:
        print(f"| {run} | {step} | {seconds:.1f} | {detail} |")
    print()
    print(f"Peak RSS of the pipeline process: {rss.peak / 2**20:.0f} MB (simulator included).")
    return 0


def _hook_detail(result: Any) -> str:
    inserts = sum(a.resources.inserts for a in result.accounts)
    updates = sum(a.resources.updates for a in result.accounts)
    expense_rows = sum(a.expenses.rows for a in result.accounts)
    return f"{inserts:,} inserts, {updates:,} updates, {expense_rows:,} expense rows"


if __name__ == "__main__":
    sys.exit(main())
