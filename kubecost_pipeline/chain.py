"""The whole chain: sync -> dbt build -> CloudTuner projection, and the commands around it.

`run` drives the three rooms in one process, so an embedded ClickHouse (chDB, one process
per directory) is shared by all three. It stops at the first failing step and never
projects marts whose `dbt build` failed.

One TOML file configures the chain (see docs/configuration.md)::

    [source]        # the connector's config, the same keys as the Airbyte form
    [clickhouse]    # url (shared by every step); database = the marts database;
                    # cluster = a ClickHouse cluster (ON CLUSTER DDL, Replicated engines)
    [landing]       # database = the landing database (Airbyte's destination database)
    [dbt]           # schema (models land in <schema>_staging / <schema>_marts), target
    [mongodb] [mysql] [expenses] [cloudtuner]   # the hook's sections (docs/cloudtuner-hook.md)

Every `[source]` key can also come from `KUBECOST_PIPELINE__SOURCE__<KEY>` (JSON values
are parsed, so nested settings such as `credentials` fit in one variable).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubecost_pipeline.progress import Progress

log = logging.getLogger(__name__)

STEPS = ("sync", "dbt", "project")
ENV_SOURCE_PREFIX = "KUBECOST_PIPELINE__SOURCE__"
DEFAULT_DBT_SCHEMA = "kubecost"


class ChainConfigError(Exception):
    """The pipeline config cannot be used; the message names the value and the fix."""


@dataclass(frozen=True)
class PipelineConfig:
    path: Path | None
    source: Mapping[str, Any] = field(repr=False)
    clickhouse_url: str = field(default="", repr=False)  # may hold a password
    clickhouse_cluster: str | None = None
    landing_database: str = "kubecost"
    dbt_schema: str = DEFAULT_DBT_SCHEMA
    dbt_target: str | None = None
    marts_database: str | None = None

    @property
    def marts(self) -> str:
        return self.marts_database or f"{self.dbt_schema}_marts"


def load_pipeline_config(
    path: str | Path | None, environ: Mapping[str, str] | None = None
) -> PipelineConfig:
    """Read the chain's TOML file (optional) and `KUBECOST_PIPELINE__SOURCE__*` variables."""
    from kubecost_pipeline.landing import DEFAULT_DATABASE, default_clickhouse_url

    environ = os.environ if environ is None else environ
    document: dict[str, Any] = {}
    if path is not None:
        try:
            document = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ChainConfigError(f"config file {path}: {exc}; fix the file.") from exc
    source = dict(document.get("source", {}))
    for name, value in environ.items():
        if name.startswith(ENV_SOURCE_PREFIX):
            key = name.removeprefix(ENV_SOURCE_PREFIX).lower()
            try:
                source[key] = json.loads(value)
            except ValueError:
                source[key] = value
    clickhouse = document.get("clickhouse", {})
    dbt = document.get("dbt", {})
    return PipelineConfig(
        path=Path(path) if path is not None else None,
        source=source,
        clickhouse_url=environ.get("KUBECOST_PIPELINE__CLICKHOUSE__URL")
        or clickhouse.get("url")
        or default_clickhouse_url(),
        clickhouse_cluster=environ.get("KUBECOST_PIPELINE__CLICKHOUSE__CLUSTER")
        or clickhouse.get("cluster")
        or None,
        landing_database=document.get("landing", {}).get("database", DEFAULT_DATABASE),
        dbt_schema=dbt.get("schema", DEFAULT_DBT_SCHEMA),
        dbt_target=dbt.get("target") or None,
        marts_database=environ.get("KUBECOST_PIPELINE__CLICKHOUSE__DATABASE")
        or clickhouse.get("database"),
    )


class StepFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step} failed: {message}")
        self.step = step


def run_chain(
    config: PipelineConfig,
    skip: frozenset[str] = frozenset(),
    dry_run: bool = False,
    progress: Progress | None = None,
    hook_overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the steps not in `skip`, in order; raise StepFailed at the first failure.

    Returns what each step reported: the landing's SyncResult, dbt's BuildResult and the
    hook's ProjectionResult, keyed by step.
    """
    progress = progress or Progress.for_stream()
    outcome: dict[str, Any] = {}
    if "sync" not in skip:
        outcome["sync"] = _sync(config, progress)
    if "dbt" not in skip:
        outcome["dbt"] = _dbt(config, progress)
    if "project" not in skip:
        hook = hook_config(config, hook_overrides or {})
        outcome["project"] = project_step(hook, dry_run, progress)
    return outcome


def _sync(config: PipelineConfig, progress: Progress) -> Any:
    from kubecost_pipeline.landing import LandingError, sync

    if not config.source:
        raise StepFailed("sync", "the config has no [source] section: add the connector's config")
    progress.step("sync", "reading Kubecost and landing records", database=config.landing_database)
    try:
        result = sync(
            config.source,
            config.clickhouse_url,
            config.landing_database,
            on_state=lambda s: progress.step(
                "sync", f"{s.stream}: state committed", state=s.state, rows=s.records
            ),
            cluster=config.clickhouse_cluster,
        )
    except LandingError as exc:
        raise StepFailed("sync", str(exc)) from exc
    for name, stream in result.streams.items():
        progress.step("sync", f"{name} landed", rows=stream.records)
    return result


def _dbt(config: PipelineConfig, progress: Progress) -> Any:
    from kubecost_pipeline.transform import TransformError, build

    progress.step("dbt", "dbt build of dbt_k8s_costs", schema=config.dbt_schema)
    try:
        result = build(
            config.clickhouse_url,
            target=config.dbt_target,
            schema=config.dbt_schema,
            vars={"kubecost_database": config.landing_database},
            on_node=lambda node, status: progress.step("dbt", f"{node} {status}"),
            cluster=config.clickhouse_cluster,
        )
    except TransformError as exc:
        raise StepFailed("dbt", str(exc)) from exc
    if not result.success:
        raise StepFailed("dbt", result.report() + "\nThe CloudTuner projection was not run.")
    progress.step("dbt", "models built and tested", nodes=result.nodes, seconds=result.duration_s)
    return result


def hook_config(config: PipelineConfig, overrides: Mapping[str, Any]) -> Any:
    """The hook's config from the pipeline file, reading the marts this chain builds."""
    from kubecost_pipeline import post_sync

    try:
        return post_sync.load_config(
            config.path,
            overrides={
                "marts_url": config.clickhouse_url,
                "marts_database": config.marts,
                **overrides,
            },
        )
    except post_sync.PostSyncError as exc:
        raise StepFailed("project", str(exc)) from exc


def project_step(hook: Any, dry_run: bool, progress: Progress, **options: Any) -> Any:
    """Run the CloudTuner projection; `options` go to `post_sync.project` (stores, ...)."""
    from kubecost_pipeline import post_sync

    progress.step("project", "projecting the marts into CloudTuner", dry_run=dry_run)
    try:
        result = post_sync.project(hook, dry_run=dry_run, **options)
    except post_sync.PostSyncError as exc:
        raise StepFailed("project", str(exc)) from exc
    progress.step("project", result.summary().splitlines()[0])
    return result


# ---- commands --------------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `run`, `demo`, `webhook` and `sql`."""
    run = subparsers.add_parser(
        "run",
        help="sync, then dbt build, then the CloudTuner projection",
        description="Run the chain against configured stores; stops at the first failing "
        "step and never projects marts whose dbt build failed.",
    )
    run.add_argument("--config", type=Path, help="pipeline TOML (docs/configuration.md)")
    for step in STEPS:
        run.add_argument(f"--skip-{step}", action="store_true", help=f"skip the {step} step")
    run.add_argument(
        "--dry-run", action="store_true", help="plan the CloudTuner projection, write nothing"
    )
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.set_defaults(func=_run_command)

    demo = subparsers.add_parser(
        "demo",
        help="the whole chain on a simulated fleet, embedded ClickHouse and local stores",
    )
    demo.add_argument("--days", type=int, default=14, help="days of history (default 14)")
    demo.add_argument("--clusters", type=int, default=3, help="simulated clusters (default 3)")
    demo.add_argument("--seed", type=int, default=7, help="fleet seed (default 7)")
    demo.add_argument(
        "--workdir",
        type=Path,
        default=Path(".kubecost-pipeline/demo"),
        help="where the embedded ClickHouse lives (default .kubecost-pipeline/demo)",
    )
    demo.add_argument(
        "--clickhouse-url",
        help="a ClickHouse server (http(s)://user:password@host:port) instead of embedded chDB; "
        "the demo drops and rebuilds its own databases there (kubecost_demo*)",
    )
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=_demo_command)

    webhook = subparsers.add_parser(
        "webhook",
        help="run dbt build and the hook on Airbyte's 'successful sync' webhook",
        description="Serve POST /airbyte/sync-succeeded?token=<secret>; the secret comes "
        "from KUBECOST_PIPELINE__WEBHOOK__SECRET (docs/orchestration.md).",
    )
    webhook.add_argument("--listen", default="127.0.0.1:8787", help="host:port to listen on")
    webhook.add_argument(
        "--connection-id",
        action="append",
        required=True,
        help="Airbyte connection id to act on (repeatable)",
    )
    webhook.add_argument("--config", type=Path, help="pipeline TOML (docs/configuration.md)")
    webhook.set_defaults(func=_webhook_command)

    sql = subparsers.add_parser(
        "sql", help="run one SQL query on the pipeline's ClickHouse and print the rows"
    )
    sql.add_argument("query", help='e.g. "select * from kubecost_marts.k8s_expenses_daily"')
    sql.add_argument(
        "--clickhouse-url", help="default: the demo's embedded ClickHouse, else the pipeline's"
    )
    sql.set_defaults(func=_sql_command)


def _progress(args: argparse.Namespace) -> Progress:
    """Progress lines for the person (or JSON for a machine); the rooms' own INFO logs
    (every source log line, dbt's) only with --verbose."""
    if not args.verbose:
        for room in ("landing", "transform", "post_sync"):
            logging.getLogger(f"kubecost_pipeline.{room}").setLevel(logging.WARNING)
    return Progress.for_stream(sys.stderr, quiet=args.quiet)


def _fail(message: str) -> int:
    print(f"kubecost-pipeline: {message}", file=sys.stderr)
    return 1


def _run_command(args: argparse.Namespace) -> int:
    try:
        config = load_pipeline_config(args.config)
        skip = frozenset(step for step in STEPS if getattr(args, f"skip_{step}"))
        outcome = run_chain(config, skip, args.dry_run, _progress(args))
    except ChainConfigError as exc:
        return _fail(str(exc))
    except StepFailed as exc:
        return _fail(str(exc))
    if "project" in outcome:
        print(outcome["project"].summary())
    return 0


def _demo_command(args: argparse.Namespace) -> int:
    from kubecost_pipeline.demo import run_demo

    return run_demo(
        days=args.days,
        clusters=args.clusters,
        seed=args.seed,
        workdir=args.workdir,
        progress=_progress(args),
        clickhouse_url=args.clickhouse_url,
    )


def _webhook_command(args: argparse.Namespace) -> int:
    from kubecost_pipeline.webhook import make_server

    try:
        config = load_pipeline_config(args.config)
        host, _, port = args.listen.rpartition(":")
        server, _ = make_server(
            (host or "127.0.0.1", int(port)),
            os.environ.get("KUBECOST_PIPELINE__WEBHOOK__SECRET", ""),
            args.connection_id,
            lambda connection_id: run_chain(config, frozenset({"sync"})),
        )
    except (ChainConfigError, ValueError) as exc:
        return _fail(str(exc))
    log.info("Listening on http://%s:%s/airbyte/sync-succeeded", host, port)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _sql_command(args: argparse.Namespace) -> int:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from kubecost_pipeline.clickhouse import ClickHouseUnavailable, ClickHouseURL, connect, explain
    from kubecost_pipeline.demo import DEMO_CLICKHOUSE_DIR

    url = args.clickhouse_url
    if url is None:
        demo = Path(DEMO_CLICKHOUSE_DIR).resolve()
        url = f"chdb://{demo}" if demo.exists() else load_pipeline_config(None).clickhouse_url
    try:
        target = ClickHouseURL.parse(url)
        client = connect(target)
    except ClickHouseUnavailable as exc:
        return _fail(str(exc))
    try:
        result = client.query(args.query)
        print("\t".join(result.column_names))
        for row in result.result_rows:
            print("\t".join(str(value) for value in row))
    except ClickHouseError as exc:
        return _fail(f"query failed: {explain(exc, target)}")
    finally:
        client.close()
    return 0
