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

ROOMS = (
    "kubecost_pipeline.simulator.cli",
    "kubecost_pipeline.landing.cli",
    "kubecost_pipeline.transform.cli",
    "kubecost_pipeline.post_sync.cli",
    "kubecost_pipeline.chain",
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
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:  # their connection warnings repeat the one line our commands print
        # (urllib3.connectionpool: clickhouse-connect sets `urllib3` itself when imported)
        for library in ("clickhouse_connect", "urllib3.connectionpool"):
            logging.getLogger(library).setLevel(logging.ERROR)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
