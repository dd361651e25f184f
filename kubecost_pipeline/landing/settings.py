"""Defaults of the landing."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATABASE = "kubecost"
CLICKHOUSE_URL_ENV = "KUBECOST_PIPELINE__CLICKHOUSE__URL"
# Rows buffered per stream before an INSERT: bounds memory (~10-20 MB for allocation rows).
BATCH_ROWS = 10_000


def default_clickhouse_url() -> str:
    """`$KUBECOST_PIPELINE__CLICKHOUSE__URL`, else embedded chDB in ./.kubecost-pipeline/chdb."""
    return os.environ.get(CLICKHOUSE_URL_ENV) or f"chdb://{Path.cwd() / '.kubecost-pipeline/chdb'}"
