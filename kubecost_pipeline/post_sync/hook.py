"""The projection: marts -> MongoDB resources -> ClickHouse expenses -> MySQL discovery_info.

Per cloud account, under its MySQL advisory lock: documents first (expenses reference their
`_id`), then expenses, then `last_discovery_at`. Every step is computed from the stores'
current state, so a run killed anywhere is finished by the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from typing import Any

from kubecost_pipeline.post_sync import documents, settings
from kubecost_pipeline.post_sync.config import HookConfig
from kubecost_pipeline.post_sync.discovery import Discovery, connect
from kubecost_pipeline.post_sync.errors import PostSyncError, ProjectionFailed, StoreError
from kubecost_pipeline.post_sync.expenses import ExpensePlan, Expenses
from kubecost_pipeline.post_sync.marts import Marts
from kubecost_pipeline.post_sync.resources import ResourcePlan, Resources
from kubecost_pipeline.post_sync.stats import Stats

logger = logging.getLogger(__name__)


@dataclass
class Stores:
    """Open handles on the four stores; tests pass their own (mongomock, fault injection)."""

    marts: Any  # clickhouse-connect client of the marts
    expenses: Any  # clickhouse-connect client of CloudTuner's ClickHouse (may be `marts`)
    mongo: Any  # pymongo.MongoClient-compatible
    mysql: Callable[[], Any]  # opens a MySQL connection (one per account: the lock's session)


@dataclass
class AccountResult:
    cluster: str
    account_id: str
    resources: ResourcePlan
    expenses: ExpensePlan
    discovery_inserted: list[str]
    discovery_types: list[str]


@dataclass
class ProjectionResult:
    """What a run did (or, with dry_run, would do), per cloud account, and its cost."""

    dry_run: bool
    started_at: int
    accounts: list[AccountResult] = field(default_factory=list)
    skipped_clusters: list[str] = field(default_factory=list)
    round_trips: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)  # documents, expenses
    seconds: float = 0.0

    def summary(self) -> str:
        """A human-readable plan: inserts, updates, deactivations, expense corrections."""
        verb = "would write" if self.dry_run else "wrote"
        lines = [f"CloudTuner projection ({'dry run' if self.dry_run else 'applied'}):"]
        for a in self.accounts:
            r, e = a.resources, a.expenses
            lines += [
                f"cluster {a.cluster} -> cloud account {a.account_id}",
                f"  MongoDB resources: {r.inserts} inserts, {r.updates} updates, "
                f"{r.deactivations} deactivations, {r.unchanged} unchanged, "
                f"{r.totals} totals from expenses",
                f"  ClickHouse expenses: {e.new_days} new days, {e.corrections} corrections "
                f"(-1/+1 pairs), {e.unchanged} unchanged; {verb} {e.rows} rows",
                f"  MySQL discovery_info: {verb} {len(a.discovery_inserted)} new rows "
                f"{a.discovery_inserted}; last_discovery_at for {a.discovery_types} "
                "(OptScale's own discovery disabled)",
            ]
            lines += [f"    {kind}: {', '.join(ids)}" for kind, ids in r.samples.items()]
            lines += [f"    correction {s}" for s in e.samples]
        if self.skipped_clusters:
            lines.append(f"clusters without a cloud account (skipped): {self.skipped_clusters}")
        trips = ", ".join(f"{k} {v}" for k, v in sorted(self.round_trips.items()))
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(self.step_seconds.items()))
        lines.append(f"round trips: {trips}; {self.seconds:.2f} s ({steps})")
        return "\n".join(lines)


def open_stores(config: HookConfig, stack: ExitStack) -> Stores:
    """Connect to the stores of `config`; `stack` closes them. One client when both
    ClickHouse URLs are the same."""
    import pymongo

    from kubecost_pipeline.clickhouse import ClickHouseUnavailable
    from kubecost_pipeline.clickhouse import connect as connect_clickhouse

    def clickhouse(url: str, what: str) -> Any:
        try:
            client = connect_clickhouse(url)
        except ClickHouseUnavailable as exc:
            raise StoreError(what, str(exc)) from exc
        stack.callback(client.close)
        return client

    marts = clickhouse(config.marts_url, "ClickHouse marts")
    same = config.expenses_clickhouse_url == config.marts_url
    expenses = marts if same else clickhouse(config.expenses_clickhouse_url, "ClickHouse expenses")
    try:
        mongo: Any = pymongo.MongoClient(config.mongodb_uri, tz_aware=False)
    except (pymongo.errors.PyMongoError, ValueError) as exc:  # e.g. no SRV record
        raise StoreError("MongoDB resources", exc) from exc
    stack.callback(mongo.close)
    return Stores(
        marts=marts, expenses=expenses, mongo=mongo, mysql=lambda: connect(config.mysql_url)
    )


def project(
    config: HookConfig,
    dry_run: bool = False,
    *,
    stores: Stores | None = None,
    create_expenses_table: bool = False,
    now: int | None = None,
) -> ProjectionResult:
    """Project the marts into CloudTuner's three stores.

    Args:
        config: a validated `HookConfig` (see `load_config`).
        dry_run: compute and return the plan; write nothing.
        stores: open store handles (default: connect with `config`).
        create_expenses_table: create `expenses` with OptScale's DDL when it is missing.
        now: the run's start, unix seconds (default: the clock); `last_discovery_at` and the
            `last_seen` of active resources.

    Returns:
        A `ProjectionResult` with the plan, counts and round trips per store.

    Raises:
        ConfigError: invalid configuration (before anything is written).
        ProjectionFailed: one or more cloud accounts failed; the others were projected.
    """
    clock = time.monotonic()
    stats = Stats()
    result = ProjectionResult(dry_run=dry_run, started_at=int(time.time()) if now is None else now)
    with ExitStack() as stack:
        stores = stores or open_stores(config, stack)
        marts = Marts(stores.marts, config.marts_database, stats)
        marts.check()
        expenses = Expenses(stores.expenses, config.expenses_database, stats)
        if config.expense_levels:
            expenses.check(create_expenses_table, dry_run)
        clusters = marts.clusters()
        result.skipped_clusters = sorted(set(clusters) - set(config.cluster_accounts))
        if result.skipped_clusters:
            logger.warning("No cloud account mapped for clusters %s", result.skipped_clusters)
        collection = stores.mongo[config.mongodb_database][settings.RESOURCES_COLLECTION]
        errors: list[PostSyncError] = []
        for cluster, account_id in sorted(config.cluster_accounts.items()):
            if cluster not in clusters:
                logger.warning(
                    "Cluster %s (account %s) has no rows in the marts", cluster, account_id
                )
                continue
            try:
                with ExitStack() as account_stack:
                    conn = stores.mysql()
                    account_stack.callback(conn.close)
                    run = AccountRun(config, stats, result.started_at, dry_run)
                    result.accounts.append(
                        run(
                            cluster,
                            clusters[cluster].horizon,
                            account_id,
                            marts,
                            expenses,
                            collection,
                            Discovery(conn, account_id, stats),
                        )
                    )
            except PostSyncError as exc:
                logger.error("%s", exc)
                errors.append(exc)
    result.round_trips = dict(stats.round_trips)
    result.step_seconds = dict(stats.seconds)
    result.seconds = time.monotonic() - clock
    if errors:
        raise ProjectionFailed(errors, result)
    return result


@dataclass
class AccountRun:
    config: HookConfig
    stats: Stats
    started_at: int
    dry_run: bool

    def __call__(
        self,
        cluster: str,
        horizon: Any,
        account_id: str,
        marts: Marts,
        expenses: Expenses,
        collection: Any,
        discovery: Discovery,
    ) -> AccountResult:
        levels = self.config.expense_levels
        projection = documents.Projection(
            account_id=account_id,
            cluster=cluster,
            resource_level=levels[0] if levels else "pod",
            mart_totals=not levels,
            horizon=horizon,
            now=self.started_at,
        )
        with discovery.lock(self.config.lock_timeout):
            owner = discovery.owner(self.config.pool_id, self.config.employee_id)
            types = list(discovery.supported_types().values())
            inserted = discovery.ensure_rows(types, self.started_at, self.dry_run)
            try:
                resources = Resources(collection, account_id, self.stats, self.config.batch_size)
                resources.check_indexes()
                # closing(): a failure mid-stream must not leave the ClickHouse stream open.
                with self.stats.timed("documents"), closing(marts.resources(cluster)) as rows:
                    existing = resources.existing()
                    plan, ids = resources.sync(
                        documents.desired_documents(rows, projection),
                        existing,
                        {
                            "created_at": self.started_at,
                            "pool_id": owner.pool_id,
                            "employee_id": owner.employee_id,
                        },
                        projection,
                        self.dry_run,
                    )
                expense_plan = ExpensePlan()
                if levels:
                    with self.stats.timed("expenses"):
                        expense_plan = expenses.sync(
                            marts,
                            cluster,
                            account_id,
                            levels,
                            ids,
                            self.config.chunk_rows,
                            self.dry_run,
                        )
                if levels and not self.dry_run:  # a dry run wrote no expenses to sum
                    with self.stats.timed("totals"):
                        totals = expenses.totals(account_id)
                        resources.set_totals(plan, ids, levels[0], existing, totals, False)
            except StoreError as exc:
                exc.account_id = exc.account_id or account_id
                if not self.dry_run:
                    self._record_failure(discovery, types, str(exc))
                raise
            if not self.dry_run:
                discovery.succeeded(types, self.started_at)
        logger.info(
            "Account %s: %d inserts, %d updates, %d deactivations, %d totals; %d expense rows",
            account_id,
            plan.inserts,
            plan.updates,
            plan.deactivations,
            plan.totals,
            expense_plan.rows,
        )
        return AccountResult(cluster, account_id, plan, expense_plan, inserted, types)

    @staticmethod
    def _record_failure(discovery: Discovery, types: list[str], message: str) -> None:
        try:
            discovery.failed(types, int(time.time()), message)
        except StoreError as exc:
            logger.error("Could not record the failure in discovery_info: %s", exc)
