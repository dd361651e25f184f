"""End-to-end daily run of a 5,000-pod fleet: sync (new day + lookback), dbt build, hook.

The run users schedule every day, measured step by step. A simulated fleet of about 5,000
pods serves its history; a backfill brings every store up to date (reported, not the point);
then the simulator's clock moves one day forward, restating the last days as cloud billing
does, and the daily run is timed: the sync reads the new day plus the 3 lookback days, dbt
rebuilds the re-read days, the hook writes CloudTuner's three stores. CloudTuner's own
worker reports 30 to 60 seconds per account for its daily Kubernetes import.

Stores: embedded ClickHouse (chDB) and the local MariaDB are real; MongoDB is the
bench_post_sync in-memory stand-in (no server can run here; mongomock is O(n^2)). The
simulator serves from a process of its own, so its work is neither in the pipeline's wall
time nor in its CPU seconds (reported apart).

    .venv/bin/python bench/bench_end_to_end.py [--pods 5000] [--history-days 14]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import psutil

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


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished children (the
    connector and its day workers; not the simulator, which ends last)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed_chain(config: PipelineConfig, step: str) -> tuple[Any, float, float]:
    others = frozenset({"sync", "dbt", "project"} - {step})
    started, cpu = time.monotonic(), cpu_seconds()
    outcome = run_chain(config, others, progress=QUIET)
    return outcome.get(step), time.monotonic() - started, cpu_seconds() - cpu


def _serve(fleet: Fleet, control: Any) -> None:
    """The simulator's process: serve, send the URL, move the clock on request, stop at None."""
    with SimulatorServer(fleet, flavour="kubecost2") as server:
        control.send(server.base_url)
        while (days := control.recv()) is not None:
            fleet.now += timedelta(days=days)
            control.send(fleet.now)


class Simulator:
    """The simulator in a forked process of its own; `advance` moves its fleet's clock."""

    def __init__(self, fleet: Fleet) -> None:
        self._control, child = multiprocessing.Pipe()
        context = multiprocessing.get_context("fork")
        self.process = context.Process(target=_serve, args=(fleet, child), daemon=True)

    def __enter__(self) -> Simulator:
        self.process.start()
        self.base_url: str = self._control.recv()
        return self

    def advance(self, days: int) -> datetime:
        self._control.send(days)
        now: datetime = self._control.recv()
        return now

    def cpu_seconds(self) -> float:
        t = psutil.Process(self.process.pid).cpu_times()
        return t.user + t.system

    def __exit__(self, *exc: object) -> None:
        self._control.send(None)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


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
    rows: list[tuple[str, str, float | None, float, str]] = []
    try:
        conn = connect(f"{MYSQL_ROOT}/{mysql_db}")
        sandbox.create_mysql_tables(conn, k8s_types_migration=True)
        organization = sandbox.seed_organization(conn, accounts=len(clusters))
        conn.close()
        with (
            Simulator(fleet) as server,  # forked first: no thread of this process is copied
            PeakRss() as rss,
            tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp,
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

            def hook() -> tuple[Any, float, float]:
                import clickhouse_connect

                client = clickhouse_connect.get_client(dsn=url)
                stores = Stores(client, client, mongo, lambda: connect(hook_config.mysql_url))
                started, cpu = time.monotonic(), cpu_seconds()
                result = post_sync.project(hook_config, stores=stores, create_expenses_table=True)
                took, cpu = time.monotonic() - started, cpu_seconds() - cpu
                client.close()
                return result, took, cpu

            now = fleet.now
            for run in ("backfill", "daily"):
                if run == "daily":
                    now = server.advance(1)
                # The fleet's clock is not the wall clock: end at the fleet's yesterday.
                yesterday = (now - timedelta(days=1)).date().isoformat()
                config = replace(config, source={**config.source, "end_date": yesterday})
                served = server.cpu_seconds()
                sync, sync_s, sync_cpu = timed_chain(config, "sync")
                served = server.cpu_seconds() - served
                dbt, dbt_s, dbt_cpu = timed_chain(config, "dbt")
                projection, hook_s, hook_cpu = hook()
                rows += [
                    (run, "sync", sync_s, sync_cpu, f"{sync.records:,} records"),
                    (run, "(simulator, serving the sync)", None, served, "its own process"),
                    (run, "dbt build", dbt_s, dbt_cpu, f"{dbt.nodes} nodes"),
                    (run, "hook", hook_s, hook_cpu, _hook_detail(projection)),
                    (
                        run,
                        "total",
                        sync_s + dbt_s + hook_s,
                        sync_cpu + dbt_cpu + hook_cpu,
                        f"load average {_load()}",
                    ),
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
    print("| run | step | wall s | CPU s | detail |")
    print("|---|---|---:|---:|---|")
    for run, step, seconds, cpu, detail in rows:
        wall = "" if seconds is None else f"{seconds:.1f}"
        print(f"| {run} | {step} | {wall} | {cpu:.1f} | {detail} |")
    print()
    print(
        "CPU s: user + system of the pipeline process and its children (the connector and its "
        "day workers); the simulator's are on their own row."
    )
    print(f"Peak RSS of the pipeline process: {rss.peak / 2**20:.0f} MB (simulator excluded).")
    return 0


def _load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def _hook_detail(result: Any) -> str:
    inserts = sum(a.resources.inserts for a in result.accounts)
    updates = sum(a.resources.updates for a in result.accounts)
    expense_rows = sum(a.expenses.rows for a in result.accounts)
    return f"{inserts:,} inserts, {updates:,} updates, {expense_rows:,} expense rows"


if __name__ == "__main__":
    sys.exit(main())
