"""`kubecost-pipeline demo`: the whole chain on a laptop, with nothing to install.

Starts the Kubecost simulator on 127.0.0.1, syncs a fortnight of a multi-cluster fleet into
embedded ClickHouse (chDB), builds the dbt project, projects the marts into CloudTuner's
stores where they are reachable (the local MariaDB; MongoDB when
KUBECOST_PIPELINE__MONGODB__URI is set; otherwise a dry-run plan), and prints what a person
wants to see: cost by cluster, top namespaces, idle share, the reconciliation verdict and
how to query the marts next; then what Kubecost's Allocations page shows first (cost,
efficiency and monthly run rate per namespace, top rightsizing savings), and the path of a
static HTML report with charts (`<workdir>/report.html`).
"""

from __future__ import annotations

import logging
import os
import shutil
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from kubecost_pipeline.chain import (
    PipelineConfig,
    StepFailed,
    hook_config,
    project_step,
    run_chain,
)
from kubecost_pipeline.config import data_dir
from kubecost_pipeline.progress import Progress

log = logging.getLogger(__name__)

# On a ClickHouse server the demo lands and builds in databases of its own, so it can start
# from nothing without touching a `kubecost` landing or its marts.
SERVER_DEMO_DATABASE = "kubecost_demo"
SERVER_DEMO_DATABASES = tuple(
    SERVER_DEMO_DATABASE + suffix
    for suffix in ("", "_staging", "_intermediate", "_marts", "_cloudtuner")
)
DEMO_MYSQL_DATABASE = "kubecost_demo_cloudtuner"
MYSQL_URL = os.environ.get("KUBECOST_PIPELINE__DEMO__MYSQL_URL", "mysql://root@127.0.0.1:3306")


def demo_dir() -> Path:
    """Where the demo keeps its embedded ClickHouse (`<workdir>/chdb`) by default."""
    return data_dir() / "demo"


def run_demo(
    days: int = 14,
    clusters: int = 3,
    seed: int = 7,
    workdir: Path | None = None,
    progress: Progress | None = None,
    clickhouse_url: str | None = None,
) -> int:
    """The demo; with `clickhouse_url`, on that ClickHouse server instead of chDB in
    `workdir` (its databases `kubecost_demo*` are dropped first)."""
    from kubecost_pipeline.clickhouse import ClickHouseUnavailable
    from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer

    progress = progress or Progress.for_stream()
    workdir = (workdir or demo_dir()).resolve()
    try:  # a demo starts from nothing, every time
        clickhouse = _fresh_clickhouse(workdir, clickhouse_url)
    except ClickHouseUnavailable as exc:
        log.error("%s", exc)
        return 1
    today = datetime.now(UTC).date()
    start = today - timedelta(days=days)
    fleet = Fleet(FleetSpec(seed=seed, clusters=clusters, start=start, days=days + 1))
    with SimulatorServer(fleet, flavour="kubecost2") as server:
        progress.step(
            "demo", f"Kubecost simulator serving {clusters} clusters", url=server.base_url
        )
        if clickhouse_url is None:
            where = clickhouse["clickhouse_url"].removeprefix("chdb://")
            progress.step("demo", "embedded ClickHouse (chDB), emptied first", directory=where)
        config = PipelineConfig(
            path=None,
            source={"url": server.base_url, "start_date": start.isoformat()},
            **clickhouse,
        )
        try:
            run_chain(config, frozenset({"project"}), progress=progress)
            projection = _project(config, fleet_clusters(fleet), progress)
        except StepFailed as exc:
            log.error("%s", exc)
            return 1
    print(report(config, start, today, projection, workdir / "report.html"))
    return 0


def _fresh_clickhouse(workdir: Path, clickhouse_url: str | None) -> dict[str, str]:
    """An empty chDB directory in `workdir`, or the server's demo databases dropped; the
    PipelineConfig settings that point at it."""
    if clickhouse_url is None:
        chdb_dir = (workdir / "chdb").resolve()
        shutil.rmtree(chdb_dir, ignore_errors=True)
        chdb_dir.parent.mkdir(parents=True, exist_ok=True)
        return {"clickhouse_url": f"chdb://{chdb_dir}"}
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from kubecost_pipeline.clickhouse import ClickHouseUnavailable, ClickHouseURL, connect, explain
    from kubecost_pipeline.landing.schema import quote

    target = ClickHouseURL.parse(clickhouse_url)
    client = connect(target)
    try:
        for database in SERVER_DEMO_DATABASES:
            client.command(f"DROP DATABASE IF EXISTS {quote(database)}")
    except ClickHouseError as exc:
        raise ClickHouseUnavailable(explain(exc, target)) from exc
    finally:
        client.close()
    return {
        "clickhouse_url": clickhouse_url,
        "landing_database": SERVER_DEMO_DATABASE,
        "dbt_schema": SERVER_DEMO_DATABASE,
    }


def fleet_clusters(fleet: Any) -> list[str]:
    return sorted(key[0] for key in fleet.truth(fleet.spec.start, level="cluster"))


def _project(config: PipelineConfig, clusters: list[str], progress: Progress) -> Any:
    """Into the local MariaDB when reachable, MongoDB when configured, else a dry run."""
    from kubecost_pipeline.post_sync import StoreError, open_stores, sandbox
    from kubecost_pipeline.post_sync.discovery import connect

    try:
        mysql = connect(MYSQL_URL)
    except StoreError:
        progress.step("project", "MariaDB not reachable: skipping the CloudTuner projection")
        return None
    with mysql:
        with mysql.cursor() as cur:  # a fresh demo database, every time
            cur.execute(f"DROP DATABASE IF EXISTS `{DEMO_MYSQL_DATABASE}`")
            cur.execute(f"CREATE DATABASE `{DEMO_MYSQL_DATABASE}`")
            cur.execute(f"USE `{DEMO_MYSQL_DATABASE}`")
        sandbox.create_mysql_tables(mysql, k8s_types_migration=True)
        organization = sandbox.seed_organization(mysql, accounts=len(clusters))
    mongodb_uri = os.environ.get("KUBECOST_PIPELINE__MONGODB__URI", "")
    dry_run = not mongodb_uri
    hook = hook_config(
        config,
        {
            "mysql_url": f"{MYSQL_URL}/{DEMO_MYSQL_DATABASE}",
            "mongodb_uri": mongodb_uri or "mongodb://in-memory-demo",
            "cluster_accounts": dict(zip(clusters, organization.account_ids, strict=True)),
            "expenses_database": f"{config.dbt_schema}_cloudtuner",
        },
    )
    with ExitStack() as stack:
        stores = open_stores(hook, stack)
        if dry_run:  # an empty in-memory MongoDB stands in: the plan is a first run's
            mongo = sandbox.mongomock_client()
            sandbox.create_mongo_indexes(mongo[hook.mongodb_database]["resources"])
            stores = replace(stores, mongo=mongo)
        return project_step(hook, dry_run, progress, stores=stores, create_expenses_table=True)


def report(
    config: PipelineConfig, start: date, today: date, projection: Any, html_path: Path
) -> str:
    """What the demo shows a person at the end; writes the HTML report to `html_path`."""
    from kubecost_pipeline.clickhouse import connect
    from kubecost_pipeline.demo_report import allocations, summary_text, write_html

    marts = config.marts
    client = connect(config.clickhouse_url)
    try:
        clusters = client.query(
            "select cluster, sum(total_cost), sum(idle_cost), sum(total_cost_with_idle) "
            "from {db:Identifier}.k8s_expenses_daily where level = 'cluster' "
            "group by cluster order by cluster",
            parameters={"db": marts},
        ).result_rows
        namespaces = client.query(
            "select cluster, resource_key, sum(total_cost) as cost "
            "from {db:Identifier}.k8s_expenses_daily where level = 'namespace' "
            "group by cluster, resource_key order by cost desc limit 5",
            parameters={"db": marts},
        ).result_rows
        days, worst = client.query(
            "select uniqExact(date), max(greatest(abs(namespaces_minus_allocated), "
            "abs(pods_minus_namespaces), abs(compute_plus_idle_minus_node_assets))) "
            "from {db:Identifier}.k8s_reconciliation_daily",
            parameters={"db": marts},
        ).result_rows[0]
        summary = allocations(client, marts)
    finally:
        client.close()
    allocated = sum(row[1] for row in clusters)
    idle = sum(row[2] for row in clusters)
    lines = [
        "",
        f"Kubernetes costs {start} .. {today - timedelta(days=1)} ({days} days, "
        f"{len(clusters)} clusters)",
        "",
        f"{'cluster':<24}{'allocated':>14}{'idle':>14}{'with idle':>14}",
    ]
    lines += [f"{c:<24}{a:>14,.2f}{i:>14,.2f}{t:>14,.2f}" for c, a, i, t in clusters]
    lines += [
        f"{'total':<24}{allocated:>14,.2f}{idle:>14,.2f}{allocated + idle:>14,.2f}",
        "",
        f"Idle share: {idle / (allocated + idle):.1%} of node cost is not requested by any pod.",
        "",
        "Top namespaces:",
    ]
    lines += [f"  {c + '/' + ns:<46}{cost:>14,.2f}" for c, ns, cost in namespaces]
    verdict = "PASS" if worst is not None and worst <= 1e-6 else "FAIL"
    lines += [
        "",
        f"Reconciliation: {verdict}: pods = namespaces = cluster allocated, and allocated "
        f"+ idle = node asset cost, every day and cluster (largest gap {worst or 0:.2g}).",
    ]
    if projection is not None:
        lines += ["", projection.summary()]
    lines += [
        "",
        f"Query the marts next (embedded ClickHouse at {config.clickhouse_url}; see "
        "docs/analyst-queries.md):",
        f'  .venv/bin/kubecost-pipeline sql "select date, resource_key, total_cost from '
        f"{marts}.k8s_expenses_daily where level = 'namespace' order by date, total_cost "
        'desc limit 20"',
        "",
        summary_text(summary),
    ]
    html_path.parent.mkdir(parents=True, exist_ok=True)
    write_html(summary, html_path)
    lines += [
        "",
        f"Report with charts (cost by day and cluster, top namespaces, idle share): {html_path}",
    ]
    return "\n".join(lines)
