"""`python -m kubecost_pipeline.post_sync ...` = `kubecost-pipeline project ...`."""

import sys

from kubecost_pipeline.cli import main

sys.exit(main(["project", *sys.argv[1:]]))
