"""Reads the two dbt marts the hook relies on (docs/marts.md), with bound, streamed queries."""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from kubecost_pipeline.post_sync import settings
from kubecost_pipeline.post_sync.errors import StoreError
from kubecost_pipeline.post_sync.stats import Stats

logger = logging.getLogger(__name__)
STORE = "ClickHouse marts"


@dataclass(frozen=True)
class ClusterSummary:
    name: str
    horizon: date  # the latest day any resource of the cluster had cost
    resources: int


class Marts:
    """The marts database `db` on a clickhouse-connect client."""

    def __init__(self, client: Any, db: str, stats: Stats):
        self.client, self.db, self.stats = client, db, stats

    def check(self) -> None:
        """Fail with the missing columns unless both marts have every column the hook reads."""
        rows = self._query(settings.MART_COLUMNS_SQL, db=self.db)
        present: dict[str, set[str]] = {}
        for table, column in rows:
            present.setdefault(table, set()).add(column)
        missing = [
            f"{table}.{column}"
            for table, columns in settings.REQUIRED_MART_COLUMNS.items()
            for column in columns
            if column not in present.get(table, set())
        ]
        if missing:
            raise StoreError(
                STORE,
                f"database `{self.db}` lacks {', '.join(missing)}.\n"
                "  - run `dbt build` of dbt_k8s_costs first, or\n"
                "  - point --marts-database at the database holding the marts "
                "(dbt-clickhouse names it `<schema>_marts`).",
            )

    def clusters(self) -> dict[str, ClusterSummary]:
        rows = self._query(settings.CLUSTERS_SQL, db=self.db)
        return {c: ClusterSummary(c, horizon, n) for c, horizon, n in rows}

    def resources(self, cluster: str) -> Generator[Sequence[Any], None, None]:
        """Every cluster/node/namespace/pod row of `cluster`, streamed in blocks."""
        yield from self._stream(settings.RESOURCES_SQL, db=self.db, cluster=cluster)

    def expense_days(self, cluster: str, levels: Sequence[str]) -> list[tuple[date, int]]:
        """(day, rows) of `cluster` at `levels`, oldest first."""
        return self._query(
            settings.EXPENSE_DAYS_SQL, db=self.db, cluster=cluster, levels=list(levels)
        )

    def expenses(
        self, cluster: str, levels: Sequence[str], lo: date, hi: date, k8s: bool = False
    ) -> Generator[Sequence[Sequence[Any]], None, None]:
        """Column blocks (level, resource_key, day as unix s, cost[, k8s_namespace, k8s_node,
        k8s_service with `k8s`]) of `cluster` at `levels` for days lo..hi: columns, because
        this is the hook's biggest read."""
        yield from self._stream(
            settings.EXPENSE_K8S_ROWS_SQL if k8s else settings.EXPENSE_ROWS_SQL,
            columns=True,
            db=self.db,
            cluster=cluster,
            levels=list(levels),
            lo=lo,
            hi=hi,
        )

    def _query(self, sql: str, **parameters: Any) -> list[Any]:
        self.stats.count("marts")
        try:
            return list(self.client.query(sql, parameters=parameters).result_rows)
        except Exception as exc:
            raise StoreError(STORE, exc) from exc

    def _stream(
        self, sql: str, columns: bool = False, **parameters: Any
    ) -> Generator[Any, None, None]:
        """Rows, or with `columns` whole column blocks, streamed from one query."""
        self.stats.count("marts")
        open_stream = (
            self.client.query_column_block_stream if columns else self.client.query_row_block_stream
        )
        try:
            with open_stream(sql, parameters=parameters) as stream:
                for block in stream:
                    if columns:
                        yield block
                    else:
                        yield from block
        except Exception as exc:
            raise StoreError(STORE, exc) from exc
