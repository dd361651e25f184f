"""Defaults of the landing."""

from __future__ import annotations

import os

from kubecost_pipeline.config import data_dir

DEFAULT_DATABASE = "kubecost"
CLICKHOUSE_URL_ENV = "KUBECOST_PIPELINE__CLICKHOUSE__URL"
CLICKHOUSE_CLUSTER_ENV = "KUBECOST_PIPELINE__CLICKHOUSE__CLUSTER"
# Rows buffered per stream before an INSERT: the landing's memory grows with the batch, not
# with the sync (bench/bench_landing.py measures it).
BATCH_ROWS = 5_000


def default_clickhouse_url() -> str:
    """`$KUBECOST_PIPELINE__CLICKHOUSE__URL`, else embedded chDB in the user's data directory
    (`kubecost_pipeline.config.data_dir()`, e.g. ~/.local/share/kubecost-pipeline/chdb)."""
    return os.environ.get(CLICKHOUSE_URL_ENV) or f"chdb://{data_dir() / 'chdb'}"


def default_cluster() -> str | None:
    """`$KUBECOST_PIPELINE__CLICKHOUSE__CLUSTER`: a ClickHouse cluster to create tables on."""
    return os.environ.get(CLICKHOUSE_CLUSTER_ENV) or None
