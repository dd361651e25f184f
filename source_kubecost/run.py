"""Console script `source-kubecost`: spec, check, discover, read."""

import sys

from airbyte_cdk.entrypoint import launch

from source_kubecost.source import SourceKubecost


def run() -> None:
    launch(SourceKubecost(), sys.argv[1:])


if __name__ == "__main__":
    run()
