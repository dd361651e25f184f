"""Console script `source-kubecost`: spec, check, discover, read.

For `read`, the first days start downloading in day workers before the CDK is imported
(prefetch.py); the CDK then runs the sync (launch.py).
"""

import sys

from source_kubecost import prefetch


def run() -> None:
    prefetch.begin(sys.argv[1:])
    from source_kubecost.launch import launch  # imports the CDK: about 1.6 s

    launch(sys.argv[1:])


if __name__ == "__main__":
    run()
