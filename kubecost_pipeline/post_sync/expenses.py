"""CloudTuner's ClickHouse `expenses`, corrected the way diworker does.

Two shapes: OptScale's exact five-column table, and CloudTuner's, which adds `k8s_namespace`,
`k8s_node` and `k8s_service` (`Nullable(String)`); there every row carries the pod's three
values. One row per (cloud account, resource `_id`, UTC day). A changed day gets a -1 row of
the old net cost (with the old k8s values) and a +1 row of the new one in the same INSERT, so
`SUM(cost*sign)` always equals the latest dbt value, also grouped by the k8s columns; an
unchanged day writes nothing. Days are processed in chunks of at most `chunk_rows` mart rows,
so memory does not grow with history.
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
K8s = tuple[str | None, ...]  # (namespace, node, service) on CloudTuner's table, else ()
Live = tuple[K8s, float]  # a day's k8s values and net cost
# A day's state as read: its cost on OptScale's table (millions of them: no tuple around a
# float), (k8s values, cost) on CloudTuner's.
State = Any
Row = tuple[Any, ...]  # cloud_account_id, resource_id, date (unix s), cost, sign, *k8s
Key = tuple[str, str]  # (level, resource_key)


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


def k8s_correction(new: Live, live: list[Live]) -> list[tuple[float, int, K8s]]:
    """`correction` on CloudTuner's table: a day whose live rows carry other k8s values than
    the mart's (a restated node, say) is moved too, and each live group is cancelled with its
    own values, so sums grouped by the k8s columns stay right."""
    values, cost = new
    if not live:
        return [(cost, 1, values)] if abs(cost) > settings.COST_TOLERANCE else []
    if len(live) == 1 and live[0][0] == values:
        return [(c, s, values) for c, s in correction(cost, live[0][1])]
    return [*((net, -1, k8s) for k8s, net in live), (cost, 1, values)]


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


@dataclass(frozen=True)
class Table:
    """The `expenses` table as found: missing (dry run), OptScale's or CloudTuner's shape."""

    exists: bool
    k8s: bool = False  # CloudTuner's three k8s columns

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [*settings.EXPENSES_SCHEMA, *(settings.EXPENSES_K8S_COLUMNS if self.k8s else ())]


class Expenses:
    """The `expenses` table in database `db` on a clickhouse-connect client."""

    def __init__(self, client: Any, db: str, stats: Stats):
        self.client, self.db, self.stats = client, db, stats
        self.table = Table(exists=False)

    def check(self, create: bool = False, dry_run: bool = False) -> Table:
        """Find OptScale's table or CloudTuner's (OptScale's plus the three k8s columns);
        create OptScale's when missing and `create`."""
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
            self.table = Table(exists=not dry_run)
            return self.table
        engine, sorting_key, partition_key = tables[0]
        columns = [tuple(r) for r in self._query(settings.EXPENSES_COLUMNS_SQL, db=self.db)]
        layout = (engine, sorting_key, partition_key)
        expected = (
            settings.EXPENSES_ENGINE,
            settings.EXPENSES_SORTING_KEY,
            settings.EXPENSES_PARTITION_KEY,
        )
        for shape in (Table(exists=True), Table(exists=True, k8s=True)):
            if layout == expected and columns == shape.columns:
                self.table = shape
                return shape
        raise StoreError(
            STORE,
            f"`{self.db}.expenses` is neither OptScale's table nor CloudTuner's: columns "
            f"{columns}, engine {engine}, ORDER BY ({sorting_key}), PARTITION BY "
            f"{partition_key}; expected {Table(True).columns} (OptScale) or "
            f"{Table(True, k8s=True).columns} (CloudTuner), {expected}. `Date` breaks "
            "diworker and another sort key another table; recreate it with OptScale's DDL "
            "(and CloudTuner's three Nullable(String) columns, if you use them).",
        )

    def sync(
        self,
        marts: Marts,
        cluster: str,
        account_id: str,
        levels: Sequence[str],
        ids: Mapping[Key, str],
        chunk_rows: int,
        dry_run: bool,
    ) -> ExpensePlan:
        """Make `SUM(cost*sign)` per (resource, day) equal the mart for every mart day.

        Rows of resources the hook does not own (other `_id`s) are never touched; days outside
        the marts' first..last day are left as they are.
        """
        plan = ExpensePlan()
        owned = set(ids.values())
        for lo, hi in day_chunks(marts.expense_days(cluster, levels), chunk_rows):
            with closing(marts.expenses(cluster, levels, lo, hi, self.table.k8s)) as blocks:
                desired = self._desired(blocks, ids)
            existing = self._existing(account_id, lo, hi, owned) if self.table.exists else ({}, {})
            rows = list(self._rows(account_id, desired, existing, plan))
            if rows and not dry_run:
                self._insert(rows)
        if plan.corrected:
            wanted = {rid for rid, *_ in plan.corrected}
            names = {rid: f"{k[0]}:{k[1]}" for k, rid in ids.items() if rid in wanted}
            plan.samples = [
                f"{names.get(rid, rid)} {_day(day)}: {old} -> {new}"
                for rid, day, old, new in plan.corrected
            ]
        return plan

    def totals(self, account_id: str) -> dict[str, tuple[float, int, float]]:
        """resource `_id` -> (sum of its expenses, its newest day, that day's cost), as
        diworker's `get_common_resource_expense_info` computes them."""
        if not self.table.exists:
            return {}
        found: dict[str, tuple[float, int, float]] = {}
        for resource_ids, totals, days, costs in self._stream(
            settings.EXPENSE_TOTALS_SQL, db=self.db, account=account_id
        ):
            found.update(zip(resource_ids, zip(totals, days, costs, strict=True), strict=True))
        return found

    def _desired(
        self, blocks: Iterable[Sequence[Sequence[Any]]], ids: Mapping[Key, str]
    ) -> dict[tuple[str, int], State]:
        """(resource `_id`, day) -> its state in the marts. Whole columns at a time: millions
        of rows."""
        desired: dict[tuple[Any, int], State] = {}
        missing = 0
        for levels, keys, days, costs, *k8s_columns in blocks:
            resource_ids = list(map(ids.get, zip(levels, keys, strict=True)))
            missing += resource_ids.count(None)
            states: Iterable[State] = costs
            if self.table.k8s:
                namespaces, nodes, services = (map(_null, c) for c in k8s_columns)
                values = zip(namespaces, nodes, services, strict=True)
                states = zip(values, costs, strict=True)
            desired.update(zip(zip(resource_ids, days, strict=True), states, strict=True))
        if missing:
            logger.warning("%d expense rows have no k8s_resources row; skipped", missing)
            desired = {k: v for k, v in desired.items() if k[0] is not None}
        return desired

    def _existing(
        self, account_id: str, lo: date, hi: date, owned: set[str]
    ) -> tuple[dict[tuple[str, int], State], dict[tuple[str, int], list[Live]]]:
        """(resource `_id`, day) -> the live state of the hook's rows in lo..hi. On
        CloudTuner's table a day can have live rows with several k8s values (a crash between
        two runs that moved it): those days are also in the second dict, with every group."""
        live: dict[tuple[str, int], State] = {}
        several: dict[tuple[str, int], list[Live]] = {}
        sql = settings.EXISTING_EXPENSES_SQL
        if self.table.k8s:
            sql = settings.EXISTING_K8S_EXPENSES_SQL
        for block in self._stream(
            sql, db=self.db, account=account_id, lo=midnight_ts(lo), hi=midnight_ts(hi)
        ):
            resource_ids, days, nets = block[:3]
            states: Iterable[State] = nets
            if self.table.k8s:
                states = zip(zip(*block[3:], strict=True), nets, strict=True)
            pairs: Iterable[tuple[tuple[str, int], State]] = zip(
                zip(resource_ids, days, strict=True), states, strict=True
            )
            if not owned.issuperset(resource_ids):  # rows of other writers: leave them be
                pairs = [(key, state) for key, state in pairs if key[0] in owned]
            if not self.table.k8s:
                live.update(pairs)  # one row per (resource, day): GROUP BY resource_id, date
                continue
            for key, state in pairs:
                if key in live:
                    several.setdefault(key, [live[key]]).append(state)
                else:
                    live[key] = state
        return live, several

    def _rows(
        self,
        account_id: str,
        desired: dict[tuple[str, int], State],
        existing: tuple[dict[tuple[str, int], State], dict[tuple[str, int], list[Live]]],
        plan: ExpensePlan,
    ) -> Iterator[Row]:
        """The rows to insert: pairs first, then single +1 rows (an even prefix keeps each
        pair inside one insert block).

        One comprehension per side finds the days whose live state is not bit-identical
        (millions of rows a run); only those go through the correction with its tolerance.
        """
        live, several = existing
        changed = [(key, new) for key, new in desired.items() if live.get(key) != new]
        changed += [(key, desired[key]) for key in several
                    if key in desired and live.get(key) == desired[key]]  # fmt: skip
        gone = [key for key in live if key not in desired]  # days dbt no longer has
        plan.unchanged += len(desired) - len(changed)
        singles: list[Row] = []
        as_live = (lambda state: state) if self.table.k8s else (lambda cost: ((), cost))
        for key, new in [*changed, *((key, None) for key in gone)]:
            groups = several.get(key) or ([as_live(live[key])] if key in live else [])
            # a day dbt no longer has is zeroed where it is
            target = as_live(new) if new is not None else (groups[-1][0], 0.0)
            rows = k8s_correction(target, groups)
            if not rows:
                plan.unchanged += new is not None
            elif len(rows) == 1:
                plan.new_days += 1
                cost, sign, values = rows[0]
                singles.append((account_id, *key, cost, sign, *values))
            else:
                plan.corrections += 1
                if len(plan.corrected) < 5:
                    old = sum(net for _, net in groups)
                    plan.corrected.append((*key, old, target[1]))
                for cost, sign, values in rows:
                    yield account_id, *key, cost, sign, *values
            plan.rows += len(rows)
        yield from singles

    def _insert(self, rows: list[Row]) -> None:
        self.stats.count("expenses")
        columns = self.table.columns
        try:
            self.client.insert(
                settings.EXPENSES_TABLE,
                rows,
                database=self.db,
                column_names=[name for name, _ in columns],
                column_type_names=[kind for _, kind in columns],
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


def _null(value: str) -> str | None:
    """The marts' '' (unknown) as NULL in CloudTuner's Nullable(String) columns."""
    return value or None


def _day(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()
