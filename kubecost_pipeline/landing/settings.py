"""Defaults of the landing."""

from __future__ import annotations

import os

from kubecost_pipeline.config import data_dir

DEFAULT_DATABASE = "kubecost"
CLICKHOUSE_URL_ENV = "KUBECOST_PIPELINE__CLICKHOUSE__URL"
# Rows buffered per stream before an INSERT. Bounds memory: 10,000 allocation rows of 72
# columns cost ~150 MB of Python objects while encoded (DECISIONLOG.md, Landing).
BATCH_ROWS = 5_000


def default_clickhouse_url() -> str:
    """`$KUBECOST_PIPELINE__CLICKHOUSE__URL`, else embedded chDB in the user's data directory
    (`kubecost_pipeline.config.data_dir()`, e.g. ~/.local/share/kubecost-pipeline/chdb)."""
    return os.environ.get(CLICKHOUSE_URL_ENV) or f"chdb://{data_dir() / 'chdb'}"
