"""Subcommands of the landing room (registered by kubecost_pipeline.cli)."""

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register this room's subcommands; imports heavy modules only inside handlers."""
