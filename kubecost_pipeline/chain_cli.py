"""`kubecost-pipeline run`, `demo`, `webhook` and `sql`: the commands around the chain.

The work is in libraries (`chain`, `demo`, `webhook`); this module parses flags, prints and
picks exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from kubecost_pipeline.chain import (
    STEPS,
    ChainConfigError,
    StepFailed,
    load_pipeline_config,
    run_chain,
)
from kubecost_pipeline.progress import Progress
from kubecost_pipeline.sql_output import FORMATS, format_clause, write_rows

log = logging.getLogger(__name__)


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
        help="where the embedded ClickHouse lives, emptied first, and report.html is written "
        "(default: ~/.local/share/kubecost-pipeline/demo, or $XDG_DATA_HOME's)",
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
        "sql",
        help="run one SQL query on the pipeline's ClickHouse and print the rows",
        description="Print the rows as an aligned table (the default on a terminal), CSV, or "
        "JSON lines (the default otherwise). A query ending in ClickHouse's own FORMAT clause "
        "(FORMAT PrettyCompact, CSVWithNames, ...) is printed as ClickHouse writes it.",
    )
    sql.add_argument("query", help='e.g. "select * from kubecost_marts.k8s_expenses_daily"')
    sql.add_argument(
        "--format",
        choices=FORMATS,
        help="table (NULL shown as NULL, floats to 10 significant digits), csv or jsonl "
        "(exact values); default: table on a terminal, jsonl otherwise",
    )
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
    return args.progress


def _fail(message: str, code: int = 1) -> int:
    """Say what went wrong (on stderr, as every log line); exit 1 for a failed step, 2 for
    a usage mistake."""
    log.error("%s", message)
    return code


def _run_command(args: argparse.Namespace) -> int:
    try:
        config = load_pipeline_config(args.config)
        skip = frozenset(step for step in STEPS if getattr(args, f"skip_{step}"))
        outcome = run_chain(config, skip, args.dry_run, _progress(args))
    except ChainConfigError as exc:
        return _fail(str(exc), 2)
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
        return _fail(str(exc), 2)
    log.info("Listening on http://%s:%s/airbyte/sync-succeeded", host, port)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _sql_command(args: argparse.Namespace) -> int:
    from clickhouse_connect.driver.exceptions import ClickHouseError
    from clickhouse_connect.driver.summary import QuerySummary

    from kubecost_pipeline.clickhouse import ClickHouseUnavailable, ClickHouseURL, connect, explain
    from kubecost_pipeline.demo import demo_dir
    from kubecost_pipeline.landing import default_clickhouse_url

    own_format = format_clause(args.query)
    if own_format and args.format:
        return _fail(
            f"--format {args.format} and the query's FORMAT {own_format} both choose the "
            "output: drop one of them.",
            2,
        )
    url = args.clickhouse_url
    if url is None:
        demo = demo_dir() / "chdb"
        url = f"chdb://{demo}" if demo.exists() else default_clickhouse_url()
    try:
        target = ClickHouseURL.parse(url)
        client = connect(target)
    except ClickHouseUnavailable as exc:
        return _fail(str(exc))
    fmt = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    try:
        if own_format:  # ClickHouse's own rendering, byte for byte
            output = client.raw_query(args.query)
            sys.stdout.flush()
            sys.stdout.buffer.write(output)
            sys.stdout.buffer.flush()
        elif client.create_query_context(query=args.query).is_command:
            # CREATE, DROP, ALTER, ...: no rows (clickhouse-connect's query would turn the
            # statement's summary into one); a verdict such as CHECK TABLE's is the one value
            answer = client.command(args.query)
            if not isinstance(answer, QuerySummary):
                write_rows(sys.stdout, fmt, ["result"], [[answer]])
        else:
            result = client.query(args.query)
            write_rows(sys.stdout, fmt, result.column_names, result.result_rows)
    except (ClickHouseError, OSError) as exc:
        return _fail(f"query failed: {explain(exc, target)}")
    finally:
        client.close()
    return 0
