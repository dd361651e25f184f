"""`kubecost-pipeline sync`: run the connector and land its records in ClickHouse."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
from pathlib import Path

from kubecost_pipeline.landing.settings import (
    BATCH_ROWS,
    CLICKHOUSE_CLUSTER_ENV,
    CLICKHOUSE_URL_ENV,
    DEFAULT_DATABASE,
)

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `sync`; heavy modules are imported only when it runs."""
    parser = subparsers.add_parser(
        "sync",
        help="run source-kubecost and land its records in ClickHouse (as Airbyte would)",
        description=(
            "Run the Kubecost connector and write its records into ClickHouse exactly as "
            "Airbyte's ClickHouse destination v2 would. The next sync resumes from the state "
            "committed in <database>._airbyte_state."
        ),
    )
    parser.add_argument(
        "--config", required=True, type=Path, help="the connector's JSON config file"
    )
    parser.add_argument(
        "--clickhouse-url",
        help=f"chdb:///dir or http(s)://user:pass@host:port (default ${CLICKHOUSE_URL_ENV}, "
        "else chdb://~/.local/share/kubecost-pipeline/chdb)",
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="landing database")
    parser.add_argument(
        "--cluster",
        help="ClickHouse cluster: ON CLUSTER DDL and Replicated engines "
        f"(default ${CLICKHOUSE_CLUSTER_ENV})",
    )
    parser.add_argument("--streams", nargs="+", metavar="STREAM", help="streams to sync")
    parser.add_argument(
        "--mode",
        action="append",
        default=[],
        metavar="STREAM=MODE",
        help="sync mode of a stream: overwrite, append or append_dedup (repeatable)",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="ignore the saved state and read everything again (landed rows are kept)",
    )
    parser.add_argument(
        "--source-command",
        type=shlex.split,
        help="the source's command line instead of source-kubecost (it gets the verbs appended)",
    )
    parser.add_argument(
        "--batch-rows", type=int, default=BATCH_ROWS, help="rows per INSERT per stream"
    )
    parser.set_defaults(func=run)


def _modes(pairs: list[str]) -> dict[str, str]:
    modes = {}
    for pair in pairs:
        stream, sep, mode = pair.partition("=")
        if not sep or not stream or not mode:
            raise ValueError(f"--mode {pair!r} is not STREAM=MODE; e.g. --mode clusters=append")
        modes[stream] = mode
    return modes


def run(args: argparse.Namespace) -> int:
    from kubecost_pipeline.landing import LandingError, SourceError, sync

    try:
        modes = _modes(args.mode)
    except ValueError as error:
        logger.error("%s", error)
        return 2
    try:
        config = json.loads(args.config.read_text())
    except (OSError, ValueError) as error:
        logger.error("Cannot read the connector config --config %s: %s", args.config, error)
        return 2
    try:
        result = sync(
            config,
            clickhouse_url=args.clickhouse_url,
            database=args.database,
            streams=args.streams,
            modes=modes,
            source_command=args.source_command,
            batch_rows=args.batch_rows,
            refresh=args.refresh,
            cluster=args.cluster,
        )
    except SourceError as error:
        logger.error("%s", error)
        return 1
    except LandingError as error:
        logger.error("Sync failed: %s", error)
        return 1
    for stream in result.streams.values():
        print(
            f"{stream.stream}: {stream.records} records -> {result.database}.{stream.table} "
            f"({stream.mode}, generation {stream.generation_id}, state {json.dumps(stream.state)})"
        )
    print(f"sync {result.sync_id}: {result.records} records in {result.duration_s:.1f} s")
    return 0
