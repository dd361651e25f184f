"""`kubecost-pipeline`: one console script, one subcommand per room.

Each room's ``cli.py`` registers its subcommands with ``add_parser(subparsers)`` and imports
its heavy dependencies (airbyte-cdk, dbt, chDB, pymongo) only when its command runs, so that
``kubecost-pipeline --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from kubecost_pipeline.progress import Progress

ROOMS = (
    "kubecost_pipeline.simulator.cli",
    "kubecost_pipeline.landing.cli",
    "kubecost_pipeline.transform.cli",
    "kubecost_pipeline.post_sync.cli",
    "kubecost_pipeline.chain_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubecost-pipeline",
        description="Kubecost costs -> ClickHouse -> dbt rollups -> CloudTuner.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for room in ROOMS:
        importlib.import_module(room).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # One format on stderr for every command: progress events and log records alike. The
    # handler lives as long as the command (tests call main() many times in one process).
    args.progress = Progress.for_stream(sys.stderr, quiet=getattr(args, "quiet", False))
    handler, root = args.progress.log_handler(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:  # their connection warnings repeat the one line our commands print
        # (urllib3.connectionpool: clickhouse-connect sets `urllib3` itself when imported)
        for library in ("clickhouse_connect", "urllib3.connectionpool"):
            logging.getLogger(library).setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
