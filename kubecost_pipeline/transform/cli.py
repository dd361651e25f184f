"""`kubecost-pipeline transform`: `dbt build` of dbt_k8s_costs against the landing ClickHouse."""

from __future__ import annotations

import argparse
import json
import logging

from kubecost_pipeline.landing.settings import (
    CLICKHOUSE_CLUSTER_ENV,
    CLICKHOUSE_URL_ENV,
    DEFAULT_DATABASE,
)

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `transform`; dbt is imported only when it runs."""
    parser = subparsers.add_parser(
        "transform",
        help="run dbt build of dbt_k8s_costs against the landing ClickHouse",
        description=(
            "Run `dbt build` of the dbt project in this process against the ClickHouse the "
            "landing wrote (chDB lets one process open a directory: run it after `sync`)."
        ),
    )
    parser.add_argument(
        "--clickhouse-url",
        help=f"chdb:///dir or http(s)://user:pass@host:port (default ${CLICKHOUSE_URL_ENV}, "
        "else chdb://~/.local/share/kubecost-pipeline/chdb)",
    )
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help="the landing database the dbt sources read (dbt var kubecost_database)",
    )
    parser.add_argument("--project-dir", help="dbt project (default: dbt_k8s_costs/)")
    parser.add_argument("--target", help="profile target (default: from the URL)")
    parser.add_argument("--schema", help="target schema, i.e. ClickHouse database prefix")
    parser.add_argument(
        "--cluster",
        help="ClickHouse cluster: ON CLUSTER DDL and Replicated engines "
        f"(default ${CLICKHOUSE_CLUSTER_ENV})",
    )
    parser.add_argument("--select", "-s", nargs="+", default=[], help="dbt node selection")
    parser.add_argument("--exclude", nargs="+", default=[], help="dbt nodes to leave out")
    parser.add_argument("--vars", default="{}", help="more dbt vars, as a JSON object")
    parser.add_argument(
        "--full-refresh", action="store_true", help="rebuild incremental models from scratch"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kubecost_pipeline.transform import DEFAULT_PROJECT_DIR, TransformError, build

    try:
        extra = json.loads(args.vars)
        if not isinstance(extra, dict):
            raise ValueError("not an object")
    except ValueError as error:
        logger.error(
            "--vars %r is not a JSON object (%s); e.g. --vars '{\"x\": 1}'", args.vars, error
        )
        return 2
    try:
        result = build(
            args.clickhouse_url,
            project_dir=args.project_dir or DEFAULT_PROJECT_DIR,
            target=args.target,
            vars={"kubecost_database": args.database, **extra},
            select=args.select,
            exclude=args.exclude,
            schema=args.schema,
            full_refresh=args.full_refresh,
            cluster=args.cluster,
        )
    except TransformError as error:
        logger.error("%s", error)
        return 2
    print(result.report())
    return 0 if result.success else 1
