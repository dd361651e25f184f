"""Benchmark of dbt_k8s_costs on embedded ClickHouse (chDB): full build and daily run, by size.

For each fleet size (pods), a child process fills landing tables (the destination's exact
DDL, from the connector's JSON schemas) with a synthetic fleet generated inside ClickHouse:
N pods with 2 containers each, 10 pods per node, 5 clusters, per-node idle rows and Node
assets, over D days, every day one reading stamped as the connector stamps it. Then, in
that process:

1. the full `dbt build` (models, data tests, unit tests) over all D days;
2. the daily run users wait for: one new day plus a re-read of the 3 lookback days (a new
   reading that restates them without 1% of the containers), then
   `dbt build --exclude-resource-type unit_test` (unit tests belong to CI; the incremental
   marts rebuild those 4 days, and the data tests of the daily marts read the days the
   run wrote).

Reports wall seconds, CPU seconds (user + system of the whole process: chDB runs in it),
peak RSS, and every model's time side by side across the sizes, with its growth against
the smallest size (linear growth = the ratio of the pods).

    .venv/bin/python bench/bench_dbt.py [--pods 5000 20000 50000] [--days 90]
        [--project-dir DIR]   # another copy of dbt_k8s_costs, e.g. the previous version
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "dbt_k8s_costs"
START = date(2026, 1, 1)
LOOKBACK = 3
DROPPED = 100  # the re-read no longer has one container in DROPPED
WARN = {"reconciliation_severity": "warn"}
STREAMS = {  # stream: (mode, primary key)
    "allocations": ("append_dedup", ["window_start", "granularity", "idle_policy", "name"]),
    "assets": ("append_dedup", ["window_start", "key"]),
    "clusters": ("overwrite", ["id"]),
}


class Meter:
    """Wall and CPU seconds (user + system, every thread of this process) since start."""

    def __enter__(self) -> Meter:
        self.wall, self.cpu = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, self._cpu() - self.cpu

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def create_landing(client, database: str) -> None:
    from kubecost_pipeline.landing.schema import table_schema

    client.command(f"CREATE DATABASE `{database}`")
    for stream, (mode, pk) in STREAMS.items():
        schema = json.loads((ROOT / "source_kubecost" / "schemas" / f"{stream}.json").read_text())
        table = table_schema(stream, schema, mode, [[c] for c in pk], ["window_start"])
        client.command(table.create_sql(database))


def land_day(client, database: str, pods: int, day: int, extracted: str, drop: int = 0) -> int:
    """Insert one reading of day `day`, extracted at `extracted`; without one container in
    `drop` when `drop` is set (a restatement). Returns the allocation records landed."""
    containers, nodes = pods * 2, max(pods // 10, 1)
    kept = containers - (-(-containers // drop) if drop else 0)
    ws = f"toDateTime64('{START}', 3) + toIntervalDay({day})"

    def stamps(records: int) -> str:
        return (
            f"'{extracted.replace(' ', 'T')}.000000Z-{day:08x}' AS extraction_id, "
            f"{records} AS extraction_records, generateUUIDv4(number) AS _airbyte_raw_id, "
            f"toDateTime64('{extracted}', 3) AS _airbyte_extracted_at, "
            '\'{"sync_id":1,"changes":[]}\' AS _airbyte_meta, 0 AS _airbyte_generation_id'
        )

    alloc = f"""
        INSERT INTO `{database}`.allocations (extraction_id, extraction_records,
            _airbyte_raw_id, _airbyte_extracted_at, _airbyte_meta, _airbyte_generation_id,
            window_start, window_end, name, granularity, idle_policy, is_idle,
            is_unallocated, is_unmounted, start, `end`, minutes, cluster, node, namespace,
            controllerKind, controller, pod, container, services, labels,
            cpuCoreRequestAverage, cpuCoreUsageAverage, cpuCoreHours, ramByteRequestAverage,
            ramByteUsageAverage, ramByteHours, cpuCost, cpuCostAdjustment, ramCost, pvCost,
            networkCost, totalCost)
        SELECT {stamps(kept + nodes)}, {ws}, {ws} + toIntervalDay(1), name,
            'container', 'separate', false, false, false, {ws}, {ws} + toIntervalDay(1), 1440,
            cl, nd, ns, 'deployment', ctrl, pd, ct, concat('["', ctrl, '-svc"]'),
            concat('{{"app":"', ctrl, '"}}'), req, req * 0.4, req * 24, req * 2147483648,
            req * 1073741824, req * 51539607552, cpu, adj, ram, 0.01, 0.005,
            cpu + adj + ram + 0.015
        FROM (
            SELECT number, number AS c, intDiv(c, 2) AS p,
                concat('cluster-', toString(p % 5)) AS cl,
                concat('ip-10-0-', toString(p % {nodes}), '.ec2.internal') AS nd,
                concat('ns-', toString(p % 40)) AS ns, concat('app-', toString(p % 400)) AS ctrl,
                concat(ctrl, '-', toString(p)) AS pd, if(c % 2 = 0, 'app', 'sidecar') AS ct,
                concat(cl, '/', nd, '/', ns, '/', pd, '/', ct) AS name,
                toDecimal128(0.1 + (cityHash64(c) % 100) / 100, 9) AS req,
                toDecimal64(req * 0.031, 9) AS cpu, toDecimal64(req * 0.004, 9) AS ram,
                toDecimal64(-0.001, 9) AS adj
            FROM numbers({containers})
            WHERE {f"c % {drop} != 0" if drop else "true"}
        )"""
    idle = f"""
        INSERT INTO `{database}`.allocations (extraction_id, extraction_records,
            _airbyte_raw_id, _airbyte_extracted_at, _airbyte_meta, _airbyte_generation_id,
            window_start, name, granularity, idle_policy, is_idle, cluster, node, cpuCost,
            ramCost, totalCost)
        SELECT {stamps(kept + nodes)}, {ws}, concat(cl, '/', nd, '/__idle__'),
            'container', 'separate', true, cl, nd, 0.3, 0.1, 0.4
        FROM (SELECT number, concat('cluster-', toString(number % 5)) AS cl,
            concat('ip-10-0-', toString(number), '.ec2.internal') AS nd FROM numbers({nodes}))"""
    assets = f"""
        INSERT INTO `{database}`.assets (extraction_id, extraction_records, _airbyte_raw_id,
            _airbyte_extracted_at, _airbyte_meta, _airbyte_generation_id, window_start, key,
            type, cluster, name, labels, nodeType, cpuCores, ramBytes, cpuCost, ramCost,
            discount, preemptible, adjustment, totalCost)
        SELECT {stamps(nodes)}, {ws}, concat(cl, '/Node/', nd), 'Node', cl, nd,
            '{{"topology_kubernetes_io_zone":"us-east-1a"}}', 'm5.2xlarge', 8, 34359738368,
            3, 1, 0, 0, 0, 4
        FROM (SELECT number, concat('cluster-', toString(number % 5)) AS cl,
            concat('ip-10-0-', toString(number), '.ec2.internal') AS nd FROM numbers({nodes}))"""
    for sql in (alloc, idle, assets):
        client.command(sql)
    return kept + nodes


def dbt_build(project: Path, chdb: Path, workdir: Path, landing: str, *extra: str) -> dict:
    """One `dbt build`: wall and CPU seconds, and each model's and test's execution time."""
    from dbt.cli.main import dbtRunner

    os.environ.update(DBT_CHDB_PATH=str(chdb), DBT_SCHEMA="bench")
    with Meter() as meter:
        outcome = dbtRunner().invoke(
            [
                *("build", "--project-dir", str(project), "--profiles-dir", str(project)),
                *("--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")),
                # synthetic node prices do not add up to allocations + idle: report, don't fail
                *("--vars", json.dumps({"kubecost_database": landing, **WARN}), "--quiet"),
                *extra,
            ]
        )
    if not outcome.success:
        failed = [r.node.name for r in outcome.result or [] if str(r.status) in ("error", "fail")]
        raise SystemExit(f"dbt build failed: {outcome.exception or failed}")
    models = {
        r.node.name: r.execution_time for r in outcome.result if r.node.resource_type == "model"
    }
    tests = sum(r.execution_time for r in outcome.result if r.node.resource_type != "model")
    return {"wall": meter.wall, "cpu": meter.cpu, "models": models, "tests": tests}


def measure(pods: int, days: int, project: Path) -> dict:
    """Fill, full build, daily run of one fleet size, in this process."""
    import clickhouse_connect

    workdir = Path(tempfile.mkdtemp(prefix="bench-dbt-"))
    chdb = workdir / "chdb"
    try:
        client = clickhouse_connect.get_client(interface="chdb", path=str(chdb))
        create_landing(client, "kubecost")
        client.command(
            "INSERT INTO kubecost.clusters (_airbyte_raw_id, _airbyte_extracted_at, "
            "_airbyte_meta, _airbyte_generation_id, id, name, region, currency) SELECT "
            "generateUUIDv4(number), now64(3), '{}', 0, concat('cluster-', toString(number)), "
            "concat('cluster-', toString(number)), 'us-east-1', 'USD' FROM numbers(5)"
        )
        with Meter() as fill:
            rows = sum(
                land_day(client, "kubecost", pods, day, "2026-06-01 01:00:00")
                for day in range(days)
            )
        rss_fill = peak_rss_mb()
        full = dbt_build(project, chdb, workdir, "kubecost")
        rss_full = peak_rss_mb()
        daily_rows = sum(
            land_day(client, "kubecost", pods, day, "2026-06-02 01:00:00", DROPPED)
            for day in range(days - LOOKBACK, days)
        ) + land_day(client, "kubecost", pods, days, "2026-06-02 01:00:00")
        # production runs leave dbt unit tests to CI, as dbt recommends
        daily = dbt_build(
            project, chdb, workdir, "kubecost", "--exclude-resource-type", "unit_test"
        )
        marts = client.query("SELECT count() FROM bench_marts.k8s_expenses_daily").result_rows[0][0]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "pods": pods,
        "days": days,
        "rows": rows,
        "daily_rows": daily_rows,
        "fill": {"wall": fill.wall, "cpu": fill.cpu},
        "full": full,
        "daily": daily,
        "marts": marts,
        "rss_fill": rss_fill,
        "rss_full": rss_full,
        "rss_end": peak_rss_mb(),
        "load": os.getloadavg(),
    }


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _grown(seconds: float, first: float, is_base: bool) -> str:
    """Seconds, and the growth against the smallest size when it means something."""
    return f"{seconds:.2f}" + ("" if is_base or first < 0.05 else f" (x{seconds / first:.1f})")


def report(results: list[dict], project: Path) -> None:
    base = results[0]
    header = ["", *(f"{r['pods']:,} pods" for r in results)]
    print(f"## dbt_k8s_costs: {base['days']} days, pods x 2 containers, 5 clusters\n")
    if project != PROJECT:
        print(f"dbt project: {project} (not this checkout's)\n")
    runs = {
        "full": "full `dbt build`",
        "daily": f"daily `dbt build` (1 new + {LOOKBACK} re-read days, no unit tests)",
    }
    rows = [
        ["landing rows", *(f"{r['rows']:,}" for r in results)],
        ["fill landing, wall / CPU s"]
        + [f"{r['fill']['wall']:.1f} / {r['fill']['cpu']:.1f}" for r in results],
    ]
    rows += [
        [f"{title}, wall / CPU s"]
        + [f"{r[run]['wall']:.1f} / {r[run]['cpu']:.1f}" for r in results]
        for run, title in runs.items()
    ]
    rows.append(
        ["peak RSS after fill / full / daily, MB"]
        + [f"{r['rss_fill']:,.0f} / {r['rss_full']:,.0f} / {r['rss_end']:,.0f}" for r in results]
    )
    rows.append(["k8s_expenses_daily rows", *(f"{r['marts']:,}" for r in results)])
    rows.append(
        ["load average 1 / 5 / 15 min, at the end"]
        + [" / ".join(f"{x:.1f}" for x in r["load"]) for r in results]
    )
    print(_table(header, rows))
    growth = ", ".join(f"x{r['pods'] / base['pods']:g}" for r in results[1:])
    for run in runs:
        models = sorted(base[run]["models"], key=lambda m: -results[-1][run]["models"].get(m, 0))
        rows = [
            [model]
            + [
                _grown(r[run]["models"].get(model, 0.0), base[run]["models"][model], r is base)
                for r in results
            ]
            for model in models
        ]
        rows.append(
            ["all tests"]
            + [_grown(r[run]["tests"], base[run]["tests"], r is base) for r in results]
        )
        print(
            f"\n{run.capitalize()} build, seconds per model (growth against "
            f"{base['pods']:,} pods; the pods grow {growth}):\n"
        )
        print(_table(["model", *header[1:]], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, nargs="+", default=[5000, 20000, 50000])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--project-dir", type=Path, default=PROJECT)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    project = args.project_dir.resolve()
    if args.one:  # a child: one size, results as JSON on the last line
        print(json.dumps(measure(args.pods[0], args.days, project)))
        return 0
    results = []
    for pods in args.pods:  # a process per size: its own peak RSS
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                "--pods",
                str(pods),
                "--days",
                str(args.days),
                "--project-dir",
                str(project),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode:
            sys.stderr.write(child.stdout[-4000:] + child.stderr[-4000:])
            return child.returncode
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    report(results, project)
    return 0


if __name__ == "__main__":
    sys.exit(main())
