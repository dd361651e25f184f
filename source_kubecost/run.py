"""Console script `source-kubecost`: spec, check, discover, read.

For `read`, the first days start in day workers before the CDK is imported (workers.py); the
CDK then runs the sync, its messages and the finished days written to one output (output.py).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from source_kubecost import workers


def run(args: list[str] | None = None, out: TextIO | None = None) -> None:
    args = sys.argv[1:] if args is None else args
    started = workers.begin(args)
    from source_kubecost.output import launch  # imports the CDK: about 1.6 s

    launch(args, started, out)


def main() -> None:
    """The console script: `run`, then exit without tearing down the interpreter (about
    0.15 s of freeing the CDK's modules), once everything is written and the day workers are
    stopped. A failure exits the usual way, through the CDK's exception hook."""
    run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
