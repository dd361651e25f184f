"""Benchmark of dbt_k8s_costs on embedded ClickHouse (chDB): full build and daily run.

Fills landing tables (the destination's exact DDL, from the connector's JSON schemas) with a
synthetic fleet generated inside ClickHouse: N pods with 2 containers each, 10 pods per node,
per-node idle rows and Node assets, over D days. Then measures, in this process:

1. the full `dbt build` (models, data tests, unit tests) over all D days;
2. the daily run users wait for: one new day plus a re-read of the 3 lookback days (new
   extraction), then `dbt build --exclude-resource-type unit_test` (unit tests belong to CI;
   the incremental marts rebuild those 4 days only, data tests run on everything).

Reports seconds, landing rows per second and peak RSS (chDB runs in this process).

    .venv/bin/python bench/bench_dbt.py [--pods 5000] [--days 90]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "dbt_k8s_costs"
START = date(2026, 1, 1)
LOOKBACK = 3
WARN = {"reconciliation_severity": "warn"}
STREAMS = {  # stream: (mode, primary key)
    "allocations": ("append_dedup", ["window_start", "granularity", "idle_policy", "name"]),
    "assets": ("append_dedup", ["window_start", "key"]),
    "clusters": ("overwrite", ["id"]),
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def create_landing(client, database: str) -> None:
    from kubecost_pipeline.landing.schema import table_schema

    client.command(f"CREATE DATABASE `{database}`")
    for stream, (mode, pk) in STREAMS.items():
        schema = json.loads((ROOT / "source_kubecost" / "schemas" / f"{stream}.json").read_text())
        table = table_schema(stream, schema, mode, [[c] for c in pk], ["window_start"])
        client.command(table.create_sql(database))


def land_days(client, database: str, pods: int, first: int, days: int, extracted: str) -> int:
    """Insert `days` days from day index `first`, all extracted at `extracted`."""
    containers, nodes = pods * 2, max(pods // 10, 1)
    day = f"toDateTime64('{START}', 3) + toIntervalDay({first} + intDiv(number, {{n}}))"
    common = (
        f"generateUUIDv4(number) AS _airbyte_raw_id, toDateTime64('{extracted}', 3) "
        'AS _airbyte_extracted_at, \'{"sync_id":1,"changes":[]}\' AS _airbyte_meta, '
        "0 AS _airbyte_generation_id"
    )
    alloc = f"""
        INSERT INTO `{database}`.allocations (_airbyte_raw_id, _airbyte_extracted_at,
            _airbyte_meta, _airbyte_generation_id, window_start, window_end, name, granularity,
            idle_policy, is_idle, is_unallocated, is_unmounted, start, `end`, minutes,
            cluster, node, namespace, controllerKind, controller, pod, container, services,
            labels, cpuCoreRequestAverage, cpuCoreUsageAverage, cpuCoreHours,
            ramByteRequestAverage, ramByteUsageAverage, ramByteHours, cpuCost,
            cpuCostAdjustment, ramCost, pvCost, networkCost, totalCost)
        SELECT {common}, ws, ws + toIntervalDay(1), name, 'container', 'separate', false,
            false, false, ws, ws + toIntervalDay(1), 1440, cl, nd, ns, 'deployment', ctrl,
            pd, ct, concat('["', ctrl, '-svc"]'), concat('{{"app":"', ctrl, '"}}'),
            req, req * 0.4, req * 24, req * 2147483648, req * 1073741824, req * 51539607552,
            cpu, adj, ram, 0.01, 0.005, cpu + adj + ram + 0.015
        FROM (
            SELECT number, {day.format(n=containers)} AS ws, number % {containers} AS c,
                intDiv(c, 2) AS p, concat('cluster-', toString(p % 5)) AS cl,
                concat('ip-10-0-', toString(p % {nodes}), '.ec2.internal') AS nd,
                concat('ns-', toString(p % 40)) AS ns, concat('app-', toString(p % 400)) AS ctrl,
                concat(ctrl, '-', toString(p)) AS pd, if(c % 2 = 0, 'app', 'sidecar') AS ct,
                concat(cl, '/', nd, '/', ns, '/', pd, '/', ct) AS name,
                toDecimal128(0.1 + (cityHash64(c) % 100) / 100, 9) AS req,
                toDecimal64(req * 0.031, 9) AS cpu, toDecimal64(req * 0.004, 9) AS ram,
                toDecimal64(-0.001, 9) AS adj
            FROM numbers({containers * days})
        )"""
    idle = f"""
        INSERT INTO `{database}`.allocations (_airbyte_raw_id, _airbyte_extracted_at,
            _airbyte_meta, _airbyte_generation_id, window_start, name, granularity,
            idle_policy, is_idle, cluster, node, cpuCost, ramCost, totalCost)
        SELECT {common}, ws, concat(cl, '/', nd, '/__idle__'), 'container', 'separate',
            true, cl, nd, 0.3, 0.1, 0.4
        FROM (SELECT number, {day.format(n=nodes)} AS ws, number % {nodes} AS n,
            concat('cluster-', toString(n % 5)) AS cl,
            concat('ip-10-0-', toString(n), '.ec2.internal') AS nd FROM numbers({nodes * days}))"""
    assets = f"""
        INSERT INTO `{database}`.assets (_airbyte_raw_id, _airbyte_extracted_at, _airbyte_meta,
            _airbyte_generation_id, window_start, key, type, cluster, name, labels, nodeType,
            cpuCores, ramBytes, cpuCost, ramCost, discount, preemptible, adjustment, totalCost)
        SELECT {common}, ws, concat(cl, '/Node/', nd), 'Node', cl, nd,
            '{{"topology_kubernetes_io_zone":"us-east-1a"}}', 'm5.2xlarge', 8, 34359738368,
            3, 1, 0, 0, 0, 4
        FROM (SELECT number, {day.format(n=nodes)} AS ws, number % {nodes} AS n,
            concat('cluster-', toString(n % 5)) AS cl,
            concat('ip-10-0-', toString(n), '.ec2.internal') AS nd FROM numbers({nodes * days}))"""
    for sql in (alloc, idle, assets):
        client.command(sql)
    return (containers + 2 * nodes) * days


def dbt_build(
    chdb: Path, workdir: Path, landing: str, *extra: str
) -> tuple[float, list[tuple[float, str]]]:
    """Seconds of one `dbt build`, and its nodes' execution times, slowest first."""
    from dbt.cli.main import dbtRunner

    os.environ.update(DBT_CHDB_PATH=str(chdb), DBT_SCHEMA="bench")
    started = time.perf_counter()
    outcome = dbtRunner().invoke(
        [
            *("build", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)),
            *("--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")),
            # synthetic node prices do not add up to allocations + idle: report, don't fail
            *("--vars", json.dumps({"kubecost_database": landing, **WARN}), "--quiet"),
            *extra,
        ]
    )
    elapsed = time.perf_counter() - started
    if not outcome.success:
        failed = [r.node.name for r in outcome.result or [] if str(r.status) in ("error", "fail")]
        raise SystemExit(f"dbt build failed: {outcome.exception or failed}")
    nodes = sorted(((r.execution_time, r.node.name) for r in outcome.result), reverse=True)
    return elapsed, nodes


def main() -> int:
    import clickhouse_connect

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-dbt-"))
    chdb = workdir / "chdb"
    try:
        client = clickhouse_connect.get_client(interface="chdb", path=str(chdb))
        create_landing(client, "kubecost")
        client.command(
            "INSERT INTO kubecost.clusters (_airbyte_raw_id, _airbyte_extracted_at, "
            "_airbyte_meta, _airbyte_generation_id, id, name, region) SELECT "
            "generateUUIDv4(number), now64(3), '{}', 0, concat('cluster-', toString(number)), "
            "concat('cluster-', toString(number)), 'us-east-1' FROM numbers(5)"
        )
        started = time.perf_counter()
        rows = sum(  # a day per INSERT, so the fill's own memory stays small
            land_days(client, "kubecost", args.pods, day, 1, "2026-06-01 01:00:00")
            for day in range(args.days)
        )
        fill = time.perf_counter() - started
        rss_fill = peak_rss_mb()
        full, full_nodes = dbt_build(chdb, workdir, "kubecost")
        rss_full = peak_rss_mb()
        daily_rows = land_days(
            client, "kubecost", args.pods, args.days - LOOKBACK, LOOKBACK + 1, "2026-06-02 01:00:00"
        )
        # production runs leave dbt unit tests to CI, as dbt recommends
        daily, daily_nodes = dbt_build(
            chdb, workdir, "kubecost", "--exclude-resource-type", "unit_test"
        )
        marts = client.query("SELECT count() FROM bench_marts.k8s_expenses_daily").result_rows[0][0]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rss = peak_rss_mb()
    print(f"## dbt_k8s_costs ({args.pods} pods x 2 containers, {args.days} days)\n")
    print("| run | landing rows | seconds | landing rows/s |")
    print("|---|---|---|---|")
    print(f"| fill landing (SQL) | {rows:,} | {fill:.1f} | {rows / fill:,.0f} |")
    print(f"| full `dbt build` | {rows:,} | {full:.1f} | {rows / full:,.0f} |")
    print(
        f"| daily `dbt build` without unit tests (1 new day + {LOOKBACK} re-read) "
        f"| {daily_rows:,} | {daily:.1f} | {daily_rows / daily:,.0f} |"
    )
    print(
        f"\nk8s_expenses_daily rows: {marts:,}. Peak RSS of this process (chDB runs in it): "
        f"{rss_fill:,.0f} MB after the fill, {rss_full:,.0f} MB after the full build, "
        f"{rss:,.0f} MB at the end.\n"
    )
    for name, nodes in (("full", full_nodes), ("daily", daily_nodes)):
        slowest = ", ".join(f"{node} {seconds:.1f} s" for seconds, node in nodes[:5])
        print(f"Slowest nodes of the {name} build: {slowest}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
