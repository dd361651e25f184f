"""MongoDB `restapi.resources`: one document per cluster, node, namespace and pod.

Writes go straight to Mongo (the REST API rejects `k8s_cluster`, `meta` costs and custom
fields), so this module reproduces what `save_bulk` and diworker do: uuid `_id`, base64 tag
keys, widening seen times, `$setOnInsert` of `created_at`/`pool_id`/`employee_id`, no
`organization_id`, `active` true or unset.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubecost_pipeline.post_sync import documents, settings
from kubecost_pipeline.post_sync.errors import StoreError
from kubecost_pipeline.post_sync.stats import Stats

logger = logging.getLogger(__name__)
STORE = "MongoDB resources"
OWN_IDS = {"$regex": "^(cluster|node|namespace|pod):"}


@dataclass
class ResourcePlan:
    """What the Mongo step does (or, in a dry run, would do) for one cloud account."""

    inserts: int = 0
    updates: int = 0
    deactivations: int = 0
    unchanged: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, cloud_resource_id: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        bucket = self.samples.setdefault(kind, [])
        if len(bucket) < 5:
            bucket.append(cloud_resource_id)


class Resources:
    """The resources of one cloud account in `collection` (a pymongo-compatible collection)."""

    def __init__(self, collection: Any, account_id: str, stats: Stats, batch_size: int):
        self.collection, self.account_id = collection, account_id
        self.stats, self.batch_size = stats, batch_size

    def check_indexes(self) -> None:
        """Warn when OptScale's unique index is missing: nothing else would stop duplicates."""
        names = self._call(lambda: list(self.collection.index_information()))
        self.stats.count("mongodb")
        if "OptResourceUnique" not in names:
            logger.warning(
                "%s has no OptResourceUnique index; OptScale creates it (alembic e63b63d4d484)",
                self.collection.full_name,
            )

    def existing(self) -> dict[str, documents.Existing]:
        """The hook's live documents of this account, keyed by cloud_resource_id."""
        query = {"cloud_account_id": self.account_id, "deleted_at": 0, "cloud_resource_id": OWN_IDS}
        found: dict[str, documents.Existing] = {}

        def read() -> None:
            cursor = self.collection.find(query, documents.PROJECTION)
            for doc in cursor.batch_size(settings.MONGO_CURSOR_BATCH):
                found[doc["cloud_resource_id"]] = documents.remember(doc)

        self._call(read)
        self.stats.count("mongodb", 1 + len(found) // settings.MONGO_CURSOR_BATCH)
        return found

    def sync(
        self,
        desired: Iterable[documents.Desired],
        existing: dict[str, documents.Existing],
        on_insert: dict[str, Any],
        dry_run: bool,
    ) -> tuple[ResourcePlan, dict[str, str]]:
        """Upsert every desired document, unset `active` on the hook's documents not desired.

        Returns the plan and cloud_resource_id -> `_id` of every document of the hook (new,
        updated, unchanged or gone), which the expenses step uses as `resource_id`.
        """
        plan = ResourcePlan()
        ids = {crid: e.id for crid, e in existing.items()}
        seen: set[str] = set()
        pending: list[tuple[Any, bool]] = []  # (operation, is an insert)
        for d in desired:
            if d.cloud_resource_id in seen:
                logger.warning("k8s_resources repeats %s; kept the first row", d.cloud_resource_id)
                continue
            seen.add(d.cloud_resource_id)
            old = existing.get(d.cloud_resource_id)
            if old is None:
                new_id = str(uuid.uuid4())
                ids[d.cloud_resource_id] = new_id
                plan.note("inserts", d.cloud_resource_id)
                pending.append((self._upsert(d, {"_id": new_id, **on_insert}), True))
            elif (update := documents.update_for(d, old, {})) is not None:
                plan.note("deactivations" if "$unset" in update else "updates", d.cloud_resource_id)
                pending.append((self._update(old.id, update), False))
            else:
                plan.note("unchanged", d.cloud_resource_id)
            if len(pending) >= self.batch_size:
                self._flush(pending, dry_run)
        for crid, old in existing.items():
            if crid not in seen and old.active:
                plan.note("deactivations", crid)
                pending.append((self._update(old.id, {"$unset": {"active": ""}}), False))
                if len(pending) >= self.batch_size:
                    self._flush(pending, dry_run)
        self._flush(pending, dry_run)
        return plan, ids

    def _upsert(self, d: documents.Desired, on_insert: dict[str, Any]) -> Any:
        from pymongo import UpdateOne

        key = {"cloud_resource_id": d.cloud_resource_id, "cloud_account_id": self.account_id}
        return UpdateOne(
            {**key, "deleted_at": 0}, documents.update_for(d, None, on_insert) or {}, upsert=True
        )

    def _update(self, doc_id: str, update: dict[str, Any]) -> Any:
        from pymongo import UpdateOne

        return UpdateOne({"_id": doc_id, "cloud_account_id": self.account_id}, update)

    def _flush(self, pending: list[tuple[Any, bool]], dry_run: bool) -> None:
        if not pending:
            return
        batch = [op for op, _ in pending]
        inserts = sum(1 for _, is_insert in pending if is_insert)
        pending.clear()
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


def iter_desired(
    rows: Iterable[Any], horizon: Any, now: int, cluster: str
) -> Iterator[documents.Desired]:
    for row in rows:
        yield documents.desired_document(row, horizon, now, cluster)
