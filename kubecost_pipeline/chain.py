"""`run` and `demo`: the whole chain (sync -> dbt build -> CloudTuner projection)."""

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `run` and `demo`."""
