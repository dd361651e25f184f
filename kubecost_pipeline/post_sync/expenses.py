"""CloudTuner's ClickHouse `expenses`: OptScale's exact table, corrected the way diworker does.

One row per (cloud account, resource `_id`, UTC day). A changed day gets a -1 row of the old
net cost and a +1 row of the new one in the same INSERT, so `SUM(cost*sign)` always equals
the latest dbt value; an unchanged day writes nothing. Days are processed in chunks of at
most `chunk_rows` mart rows, so memory does not grow with history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kubecost_pipeline.post_sync import settings
from kubecost_pipeline.post_sync.documents import midnight_ts
from kubecost_pipeline.post_sync.errors import StoreError
from kubecost_pipeline.post_sync.marts import Marts
from kubecost_pipeline.post_sync.stats import Stats

logger = logging.getLogger(__name__)
STORE = "ClickHouse expenses"
COLUMNS = [name for name, _ in settings.EXPENSES_SCHEMA]
TYPES = [kind for _, kind in settings.EXPENSES_SCHEMA]

Row = tuple[str, str, int, float, int]  # cloud_account_id, resource_id, date (unix s), cost, sign


@dataclass
class ExpensePlan:
    """What the expenses step writes (or would write) for one cloud account."""

    new_days: int = 0  # (resource, day) that get their first +1 row
    corrections: int = 0  # (resource, day) that get a -1/+1 pair
    unchanged: int = 0
    rows: int = 0
    samples: list[str] = field(default_factory=list)  # a few corrections, readable
    corrected: list[tuple[str, int, float | None, float]] = field(default_factory=list, repr=False)


def correction(new: float, old: float | None) -> list[tuple[float, int]]:
    """The (cost, sign) rows that move a day from `old` (its live net cost, None when no row
    nets to a live sign) to `new`.

    diworker's rule: no live row -> +1 of the new cost (nothing when it is 0); the same cost
    -> nothing; otherwise -1 of the old net, then +1 of the new.
    """
    if old is None:
        return [(new, 1)] if abs(new) > settings.COST_TOLERANCE else []
    if abs(old - new) <= settings.COST_TOLERANCE:
        return []
    return [(old, -1), (new, 1)]


def day_chunks(days: Sequence[tuple[date, int]], chunk_rows: int) -> list[tuple[date, date]]:
    """Consecutive day ranges tiling first..last day, each with at most ~chunk_rows rows."""
    if not days:
        return []
    chunks, start, rows = [], days[0][0], 0
    for day, n in days:
        if rows and rows + n > chunk_rows:
            chunks.append((start, day - timedelta(days=1)))
            start, rows = day, 0
        rows += n
    chunks.append((start, days[-1][0]))
    return chunks


class Expenses:
    """The `expenses` table in database `db` on a clickhouse-connect client."""

    def __init__(self, client: Any, db: str, stats: Stats):
        self.client, self.db, self.stats = client, db, stats

    def check(self, create: bool = False, dry_run: bool = False) -> bool:
        """Verify OptScale's exact DDL; create it when missing and `create`. True if present."""
        tables = self._query(settings.EXPENSES_TABLE_SQL, db=self.db)
        if not tables:
            if not create:
                raise StoreError(
                    STORE,
                    f"table `{self.db}.expenses` does not exist.\n"
                    "  - let CloudTuner's diworker migration 202111031530000 create it, or\n"
                    "  - pass --create-expenses-table (laptops and demos: the same DDL; "
                    "diworker's migration then fails on the existing table).",
                )
            if not dry_run:
                self._command("CREATE DATABASE IF NOT EXISTS {db:Identifier}", db=self.db)
                self._command(settings.EXPENSES_DDL, db=self.db)
            return not dry_run
        engine, sorting_key, partition_key = tables[0]
        columns = [tuple(r) for r in self._query(settings.EXPENSES_COLUMNS_SQL, db=self.db)]
        expected = (
            [*settings.EXPENSES_SCHEMA],
            settings.EXPENSES_ENGINE,
            settings.EXPENSES_SORTING_KEY,
            settings.EXPENSES_PARTITION_KEY,
        )
        if (columns, engine, sorting_key, partition_key) != expected:
            raise StoreError(
                STORE,
                f"`{self.db}.expenses` is not OptScale's table: columns {columns}, engine "
                f"{engine}, ORDER BY ({sorting_key}), PARTITION BY {partition_key}; expected "
                f"{expected}. Extra columns break OptScale's own `INSERT INTO expenses VALUES` "
                "writers and `Date` breaks diworker; recreate it with OptScale's DDL.",
            )
        return True

    def sync(
        self,
        marts: Marts,
        cluster: str,
        account_id: str,
        levels: Sequence[str],
        ids: Mapping[str, str],
        chunk_rows: int,
        dry_run: bool,
        table_exists: bool = True,
    ) -> ExpensePlan:
        """Make `SUM(cost*sign)` per (resource, day) equal the mart for every mart day.

        Rows of resources the hook does not own (other `_id`s) are never touched; days outside
        the marts' first..last day are left as they are.
        """
        plan = ExpensePlan()
        owned = set(ids.values())
        for lo, hi in day_chunks(marts.expense_days(cluster, levels), chunk_rows):
            with closing(marts.expenses(cluster, levels, lo, hi)) as blocks:
                desired = self._desired(blocks, ids)
            existing = self._existing(account_id, lo, hi, owned) if table_exists else {}
            rows = list(self._rows(account_id, desired, existing, plan))
            if rows and not dry_run:
                self._insert(rows)
        if plan.corrected:
            wanted = {rid for rid, *_ in plan.corrected}
            names = {rid: crid for crid, rid in ids.items() if rid in wanted}
            plan.samples = [
                f"{names.get(rid, rid)} {_day(day)}: {old} -> {new}"
                for rid, day, old, new in plan.corrected
            ]
        return plan

    @staticmethod
    def _desired(
        blocks: Iterable[Sequence[Sequence[Any]]], ids: Mapping[str, str]
    ) -> dict[tuple[str, int], float]:
        """(resource `_id`, day) -> cost. Whole columns at a time: millions of rows."""
        desired: dict[tuple[Any, int], float] = {}
        missing = 0
        for crids, days, costs in blocks:
            resource_ids = list(map(ids.get, crids))
            missing += resource_ids.count(None)
            desired.update(zip(zip(resource_ids, days, strict=True), costs, strict=True))
        if missing:
            logger.warning("%d expense rows have no k8s_resources row; skipped", missing)
            desired = {k: v for k, v in desired.items() if k[0] is not None}
        return desired

    def _existing(
        self, account_id: str, lo: date, hi: date, owned: set[str]
    ) -> dict[tuple[str, int], float]:
        """(resource `_id`, day) -> live net cost of the hook's rows in lo..hi."""
        live: dict[tuple[str, int], float] = {}
        for resource_ids, days, nets in self._stream(
            settings.EXISTING_EXPENSES_SQL,
            db=self.db,
            account=account_id,
            lo=midnight_ts(lo),
            hi=midnight_ts(hi),
        ):
            block = zip(zip(resource_ids, days, strict=True), nets, strict=True)
            if owned.issuperset(resource_ids):
                live.update(block)
            else:  # rows of other writers: leave them be
                live.update((k, v) for k, v in block if k[0] in owned)
        return live

    @staticmethod
    def _rows(
        account_id: str,
        desired: dict[tuple[str, int], float],
        live: dict[tuple[str, int], float],
        plan: ExpensePlan,
    ) -> Iterator[Row]:
        """The rows to insert: pairs first, then single +1 rows (an even prefix keeps each
        pair inside one insert block).

        One comprehension per side finds the days whose cost is not bit-identical (millions
        of rows a run); only those go through `correction` with its tolerance.
        """
        changed = [(key, new) for key, new in desired.items() if live.get(key) != new]
        gone = [(key, 0.0) for key in live if key not in desired]  # days dbt no longer has
        plan.unchanged += len(desired) - len(changed)
        singles: list[Row] = []
        for key, new in [*changed, *gone]:
            old = live.get(key)
            rows = correction(new, old)
            if not rows:
                plan.unchanged += key in desired
            elif len(rows) == 1:
                plan.new_days += 1
                singles.append((account_id, *key, *rows[0]))
            else:
                plan.corrections += 1
                if len(plan.corrected) < 5:
                    plan.corrected.append((*key, old, new))
                for cost, sign in rows:
                    yield account_id, *key, cost, sign
            plan.rows += len(rows)
        yield from singles

    def _insert(self, rows: list[Row]) -> None:
        self.stats.count("expenses")
        try:
            self.client.insert(
                settings.EXPENSES_TABLE,
                rows,
                database=self.db,
                column_names=COLUMNS,
                column_type_names=TYPES,
            )
        except Exception as exc:
            raise StoreError(STORE, exc) from exc

    def _query(self, sql: str, **parameters: Any) -> list[Any]:
        self.stats.count("expenses")
        try:
            return list(self.client.query(sql, parameters=parameters).result_rows)
        except Exception as exc:
            raise StoreError(STORE, exc) from exc

    def _stream(self, sql: str, **parameters: Any) -> Iterator[Sequence[Sequence[Any]]]:
        self.stats.count("expenses")
        try:
            with self.client.query_column_block_stream(sql, parameters=parameters) as stream:
                yield from stream
        except Exception as exc:
            raise StoreError(STORE, exc) from exc

    def _command(self, sql: str, **parameters: Any) -> None:
        self.stats.count("expenses")
        try:
            self.client.command(sql, parameters=parameters)
        except Exception as exc:
            raise StoreError(STORE, exc) from exc


def _day(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()
