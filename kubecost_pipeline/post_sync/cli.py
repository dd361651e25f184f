"""`kubecost-pipeline project`: the CloudTuner post-sync hook."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)

FLAGS = (
    ("--marts-url", "marts_url", "ClickHouse URL of the dbt marts (chdb:///dir or http://...)"),
    ("--marts-database", "marts_database", "database of the marts (default kubecost_marts)"),
    ("--mongodb-uri", "mongodb_uri", "CloudTuner's MongoDB URI"),
    ("--mongodb-database", "mongodb_database", "MongoDB database (default restapi)"),
    ("--mysql-url", "mysql_url", "CloudTuner's MySQL URL (mysql://user:pass@host:3306/my-db)"),
    ("--expenses-url", "expenses_url", "ClickHouse URL of CloudTuner's expenses (default: marts)"),
    ("--expenses-database", "expenses_database", "database of `expenses` (default default)"),
    ("--expense-levels", "expense_levels", "level that carries expenses (default pod)"),
    ("--pool-id", "pool_id", "pool of new documents (default: the root pool)"),
    ("--employee-id", "employee_id", "owner of new documents (default: root pool's owner)"),
    ("--batch-size", "batch_size", "Mongo operations per bulk write"),
    ("--chunk-rows", "chunk_rows", "expense rows per read/diff/insert chunk"),
    ("--lock-timeout", "lock_timeout", "seconds to wait for another run of the same account"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `project`; heavy modules are imported only when it runs."""
    parser = subparsers.add_parser(
        "project",
        help="write the dbt marts into CloudTuner (MongoDB, MySQL, ClickHouse)",
        description="Project k8s_resources and k8s_expenses_daily into CloudTuner's stores. "
        "Settings come from --config (TOML), KUBECOST_PIPELINE__<SECTION>__<KEY> environment "
        "variables and these flags, in increasing priority.",
    )
    parser.add_argument(
        "--config", help="TOML file (see kubecost_pipeline/post_sync/example.secrets.toml)"
    )
    parser.add_argument(
        "--cluster-account",
        dest="cluster_accounts",
        action="append",
        metavar="CLUSTER=ACCOUNT_ID",
        help="map a Kubecost cluster to a CloudTuner cloud account id (repeatable)",
    )
    for flag, dest, text in FLAGS:
        parser.add_argument(flag, dest=dest, help=text)
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    parser.add_argument(
        "--create-expenses-table",
        action="store_true",
        help="create CloudTuner's expenses table (OptScale's DDL) when missing: laptops/demos",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kubecost_pipeline.post_sync import (
        ConfigError,
        PostSyncError,
        ProjectionFailed,
        load_config,
        project,
    )

    overrides = {dest: getattr(args, dest) for _, dest, _ in FLAGS}
    overrides["cluster_accounts"] = args.cluster_accounts
    try:
        config = load_config(args.config, overrides=overrides)
        logger.info("Configuration: %s", config.describe())
        result = project(
            config, dry_run=args.dry_run, create_expenses_table=args.create_expenses_table
        )
    except ProjectionFailed as exc:
        print(exc.result.summary())
        logger.error("%s", exc)
        return 1
    except PostSyncError as exc:
        logger.error("%s", exc)
        return 2 if isinstance(exc, ConfigError) else 1
    print(result.summary())
    return 0
