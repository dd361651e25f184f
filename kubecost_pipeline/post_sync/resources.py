"""MongoDB `restapi.resources`: one document per cluster, node, namespace and pod.

Writes go straight to Mongo (the REST API rejects `k8s_cluster` and the hook's own fields),
so this module reproduces what `save_bulk` and diworker do: uuid `_id`, base64 tag keys,
widening seen times, `$setOnInsert` of `created_at`/`pool_id`/`employee_id`, no
`organization_id`, `active` true or unset, and (after the expenses) diworker's totals.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubecost_pipeline.post_sync import documents, settings
from kubecost_pipeline.post_sync.errors import StoreError
from kubecost_pipeline.post_sync.stats import Stats

logger = logging.getLogger(__name__)
STORE = "MongoDB resources"

Key = tuple[str, str]  # (level, resource_key)


@dataclass
class ResourcePlan:
    """What the Mongo step does (or, in a dry run, would do) for one cloud account."""

    inserts: int = 0
    updates: int = 0
    deactivations: int = 0
    unchanged: int = 0
    totals: int = 0  # documents whose total_cost/last_expense moved to their expenses' sums
    samples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, name: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        bucket = self.samples.setdefault(kind, [])
        if len(bucket) < 5:
            bucket.append(name)


class Resources:
    """The resources of one cloud account in `collection` (a pymongo-compatible collection)."""

    def __init__(self, collection: Any, account_id: str, stats: Stats, batch_size: int):
        self.collection, self.account_id = collection, account_id
        self.stats, self.batch_size = stats, batch_size
        self.pending: list[tuple[Any, bool]] = []  # (operation, is an insert)

    def check_indexes(self) -> None:
        """Warn when OptScale's unique index is missing: nothing else would stop duplicates."""
        names = self._call(lambda: list(self.collection.index_information()))
        self.stats.count("mongodb")
        if "OptResourceUnique" not in names:
            logger.warning(
                "%s has no OptResourceUnique index; OptScale creates it (alembic e63b63d4d484)",
                self.collection.full_name,
            )

    def existing(self) -> dict[Key, documents.Existing]:
        """The hook's live documents of this account, keyed by (level, resource_key)."""
        query = {
            "cloud_account_id": self.account_id,
            "deleted_at": 0,
            f"{settings.OWN_FIELD}.level": {"$exists": True},
        }
        found: dict[Key, documents.Existing] = {}

        def read() -> None:
            cursor = self.collection.find(query, documents.PROJECTION)
            for doc in cursor.batch_size(settings.MONGO_CURSOR_BATCH):
                e = documents.remember(doc)
                found[e.level or "", e.key or ""] = e

        self._call(read)
        self.stats.count("mongodb", 1 + len(found) // settings.MONGO_CURSOR_BATCH)
        return found

    def sync(
        self,
        desired: Iterable[documents.Desired],
        existing: dict[Key, documents.Existing],
        on_insert: dict[str, Any],
        projection: documents.Projection,
        dry_run: bool,
    ) -> tuple[ResourcePlan, dict[Key, str]]:
        """Upsert every desired document; the hook's documents the marts no longer have go
        inactive (resources) or lose their cost (roll-ups).

        Returns the plan and (level, resource_key) -> `_id` of every document of the hook
        (new, updated, unchanged or gone), which the expenses step uses as `resource_id`.
        """
        plan = ResourcePlan()
        ids = {key: e.id for key, e in existing.items()}
        seen: set[Key] = set()
        for d in desired:
            key = d.owned[settings.OWN_FIELD]["level"], d.owned[settings.OWN_FIELD]["resource_key"]
            name = f"{key[0]}:{key[1]}"
            if key in seen:
                logger.warning("k8s_resources repeats %s; kept the first row", name)
                continue
            seen.add(key)
            old = existing.get(key)
            if old is None:
                new_id = str(uuid.uuid4())
                ids[key] = new_id
                plan.note("inserts", name)
                self._queue(self._upsert(d, {"_id": new_id, **on_insert}), True, dry_run)
            elif (update := documents.update_for(d, old, {})) is not None:
                gone = old.active and not d.active
                plan.note("deactivations" if gone else "updates", name)
                self._queue(self._update(old.id, update), False, dry_run)
            else:
                plan.note("unchanged", name)
        for key, old in existing.items():
            if key not in seen and (update := documents.gone_update(old, projection)):
                plan.note("deactivations" if old.active else "updates", f"{key[0]}:{key[1]}")
                self._queue(self._update(old.id, update), False, dry_run)
        self._flush(dry_run)
        return plan, ids

    def set_totals(
        self,
        plan: ResourcePlan,
        ids: Mapping[Key, str],
        level: str,
        existing: Mapping[Key, documents.Existing],
        totals: Mapping[str, tuple[float, int, float]],
        dry_run: bool,
    ) -> None:
        """diworker's totals on every resource of `level`: `total_cost` = the sum of its
        expenses, `last_expense` = its newest day and that day's cost (none without rows)."""
        for key, doc_id in ids.items():
            if key[0] != level:
                continue
            old = existing.get(key)
            total, last_day, last_cost = totals.get(doc_id, (0.0, None, 0.0))
            update = documents.totals_update(old, total, last_day, last_cost)
            if update is not None:
                plan.totals += 1
                self._queue(self._update(doc_id, update), False, dry_run)
        self._flush(dry_run)

    def _upsert(self, d: documents.Desired, on_insert: dict[str, Any]) -> Any:
        from pymongo import UpdateOne

        key = {"cloud_resource_id": d.cloud_resource_id, "cloud_account_id": self.account_id}
        return UpdateOne(
            {**key, "deleted_at": 0}, documents.update_for(d, None, on_insert) or {}, upsert=True
        )

    def _update(self, doc_id: str, update: dict[str, Any]) -> Any:
        from pymongo import UpdateOne

        return UpdateOne({"_id": doc_id, "cloud_account_id": self.account_id}, update)

    def _queue(self, operation: Any, is_insert: bool, dry_run: bool) -> None:
        self.pending.append((operation, is_insert))
        if len(self.pending) >= self.batch_size:
            self._flush(dry_run)

    def _flush(self, dry_run: bool) -> None:
        if not self.pending:
            return
        batch = [op for op, _ in self.pending]
        inserts = sum(1 for _, is_insert in self.pending if is_insert)
        self.pending = []
        if dry_run:
            return
        result = self._call(lambda: self.collection.bulk_write(batch, ordered=False))
        self.stats.count("mongodb")
        if result.upserted_count != inserts:
            raise StoreError(
                STORE,
                f"{inserts - result.upserted_count} new documents matched a document that "
                "another writer created meanwhile; run again to pick up their ids",
                self.account_id,
            )

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(STORE, exc, self.account_id) from exc
