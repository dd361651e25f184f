"""ClickHouse side of the landing: connection, tables, batched inserts and committed state."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from kubecost_pipeline.landing.errors import CatalogError, RecordError
from kubecost_pipeline.landing.schema import (
    EXTRACTED_AT,
    META_COLUMNS,
    RowBuilder,
    TableSchema,
    on_cluster,
    quote,
    replicated,
)

logger = logging.getLogger(__name__)

STATE_TABLE = "_airbyte_state"
INSERT_SETTINGS = {"async_insert": 0}  # an INSERT returns only once its part is written


def _layout(engine: str, version: str, sorting_key: str) -> str:
    """A comparable summary of a table's engine family, version column and sorting key
    (replication is not part of it: `ReplicatedMergeTree` and `MergeTree` compare equal)."""
    family = engine.removeprefix("Replicated")
    return re.sub(r"[`\s]", "", f"{family}({version}) ORDER BY {sorting_key.strip('()')}")


def _version_column(engine_full: str) -> str:
    """The version column of a (Replicated)ReplacingMergeTree, '' if none: its arguments
    after the replica path and name."""
    found = re.match(r"(Replicated)?ReplacingMergeTree(?:\((.*?)\))?", engine_full)
    if not found or not found[2]:
        return ""
    arguments = [a.strip() for a in found[2].split(",")]
    if found[1]:
        arguments = [a for a in arguments[:2] if not a.startswith("'")] + arguments[2:]
    return arguments[0] if arguments else ""


class Destination:
    """The landing database: tables laid out as destination-clickhouse v2 lays them out.

    On a ClickHouse cluster (`cluster`), every DDL statement runs `ON CLUSTER` and tables
    are `Replicated*MergeTree`: each node holds every row (docs/clickhouse-cluster.md).
    """

    def __init__(self, client: Any, database: str, cluster: str | None = None) -> None:
        self.client = client
        self.database = database
        self.cluster = cluster or None
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote(database)}{self.on_cluster}")

    @property
    def on_cluster(self) -> str:
        return on_cluster(self.cluster)

    def _table(self, table: str) -> tuple[dict[str, str], str] | None:
        """(columns -> type, layout key) of an existing table, else None."""
        found = self.client.query(
            "SELECT engine, engine_full, sorting_key FROM system.tables "
            "WHERE database = {db:String} AND name = {t:String}",
            parameters={"db": self.database, "t": table},
        ).result_rows
        if not found:
            return None
        columns = self.client.query(
            "SELECT name, type FROM system.columns "
            "WHERE database = {db:String} AND table = {t:String} ORDER BY position",
            parameters={"db": self.database, "t": table},
        ).result_rows
        engine, engine_full, sorting_key = found[0]
        return dict(columns), _layout(engine, _version_column(engine_full), sorting_key)

    def exists(self, table: str) -> bool:
        return self._table(table) is not None

    def prepare(self, schema: TableSchema) -> str:
        """Create or evolve the stream's table; return the table to insert into.

        Overwrite streams write a fresh temporary table that `commit` swaps in. Others
        write the final table: new columns are added, changed types modified (columns the
        schema no longer has are kept, unlike the destination, which drops them); a change
        of primary key, version column or sync mode rebuilds the table with its rows.
        """
        if schema.mode == "overwrite":
            tmp = f"{schema.table}_airbyte_tmp"
            self.client.command(schema.create_sql(self.database, tmp, True, self.cluster))
            return tmp
        current = self._table(schema.table)
        if current is None:
            self.client.command(schema.create_sql(self.database, cluster=self.cluster))
            return schema.table
        columns, layout = current
        missing_meta = [name for name, _ in META_COLUMNS if name not in columns]
        if missing_meta:
            raise CatalogError(
                f"Table {self.database}.{schema.table} exists but has no {missing_meta} "
                "columns, so it was not written by Airbyte or this loader; drop it or land "
                "into another database (--database)."
            )
        dedup = schema.mode == "append_dedup"
        wanted = _layout(
            "ReplacingMergeTree" if dedup else "MergeTree",
            (schema.version or EXTRACTED_AT) if dedup else "",
            schema.order_by,
        )
        if layout != wanted:
            self._rebuild(schema, columns)
            return schema.table
        alters = [
            f"ADD COLUMN {quote(c.name)} {c.ddl_type}"
            for c in schema.columns
            if c.name not in columns
        ] + [
            f"MODIFY COLUMN {quote(c.name)} {c.ddl_type}"
            for c in schema.columns
            if c.name in columns and columns[c.name] != c.ddl_type
        ]
        if alters:
            logger.info("Altering %s.%s: %s", self.database, schema.table, ", ".join(alters))
            self.client.command(
                f"ALTER TABLE {quote(self.database)}.{quote(schema.table)}{self.on_cluster} "
                + ", ".join(alters),
                settings={"mutations_sync": 2},  # type changes are converted before we go on
            )
        return schema.table

    def _rebuild(self, schema: TableSchema, old_columns: Mapping[str, str]) -> None:
        """Copy the rows into a table of the new layout and swap it in (as the destination)."""
        logger.info("Rebuilding %s.%s for a new key or engine", self.database, schema.table)
        tmp = f"{schema.table}_airbyte_tmp"
        names = ", ".join(quote(c) for c in schema.insert_columns if c in old_columns)
        db = quote(self.database)
        self.client.command(schema.create_sql(self.database, tmp, True, self.cluster))
        self.client.command(
            f"INSERT INTO {db}.{quote(tmp)} ({names}) "
            f"SELECT {names} FROM {db}.{quote(schema.table)}",
            settings=INSERT_SETTINGS,
        )
        self.commit(schema)

    def commit(self, schema: TableSchema) -> None:
        """Swap the stream's temporary table in for the final one."""
        db, tmp, final = (
            quote(self.database),
            quote(f"{schema.table}_airbyte_tmp"),
            quote(schema.table),
        )
        if self.exists(schema.table):
            self.client.command(f"EXCHANGE TABLES {db}.{tmp} AND {db}.{final}{self.on_cluster}")
            self.client.command(f"DROP TABLE {db}.{tmp}{self.on_cluster}{self._sync}")
        else:
            self.client.command(f"RENAME TABLE {db}.{tmp} TO {db}.{final}{self.on_cluster}")

    def discard(self, schema: TableSchema) -> None:
        """Drop an overwrite stream's unfinished temporary table; the final one stays."""
        self.client.command(
            f"DROP TABLE IF EXISTS {quote(self.database)}.{quote(schema.table + '_airbyte_tmp')}"
            f"{self.on_cluster}{self._sync}"
        )

    @property
    def _sync(self) -> str:
        """` SYNC` on a cluster: a dropped replica leaves Keeper before the name is reused."""
        return " SYNC" if self.cluster else ""


class StreamWriter:
    """Buffers one stream's rows and inserts them in batches."""

    def __init__(
        self,
        destination: Destination,
        schema: TableSchema,
        table: str,
        sync_id: int,
        generation_id: int,
        batch_rows: int,
    ) -> None:
        self.schema = schema
        self.generation_id = generation_id
        self.batch_rows = batch_rows
        self.records = 0  # inserted so far in this sync
        self._client = destination.client
        self._rows: list[list[Any]] = []
        self._builder = RowBuilder(schema)
        self._sync_id = sync_id
        self._no_changes = json.dumps({"sync_id": sync_id, "changes": []}, separators=(",", ":"))
        self._context = self._client.create_insert_context(
            table,
            schema.insert_columns,
            column_type_names=schema.insert_types,
            database=destination.database,
            settings=INSERT_SETTINGS,
        )

    @property
    def pending(self) -> int:
        return len(self._rows)

    def add(self, record: Mapping[str, Any]) -> None:
        """Convert one RECORD's `record` object; insert the batch when it is full."""
        changes = list((record.get("meta") or {}).get("changes") or [])
        try:
            values = self._builder.values(record.get("data") or {}, changes)
        except ValueError as error:
            raise RecordError(
                f"Stream {self.schema.stream!r}: record {self.records + self.pending + 1} of "
                f"this sync has no value for {error.args[0]!r}, a primary-key or cursor field "
                "that must never be null (the destination fails the sync too). Fix the source "
                "or pick the append/overwrite sync mode for this stream."
            ) from None
        meta = (
            json.dumps({"sync_id": self._sync_id, "changes": changes}, separators=(",", ":"))
            if changes
            else self._no_changes
        )
        emitted = record.get("emitted_at")
        extracted = (
            dt.datetime.fromtimestamp(emitted / 1000, dt.UTC)
            if isinstance(emitted, int | float)
            else dt.datetime.now(dt.UTC)
        )
        self._rows.append([str(uuid.uuid4()), extracted, meta, self.generation_id, *values])
        if len(self._rows) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        """Insert the buffered rows; returns once ClickHouse has written them."""
        if not self._rows:
            return
        self._context.data = self._rows
        self._client.insert(context=self._context)
        self.records += len(self._rows)
        self._rows = []


class StateStore:
    """Airbyte state kept in `<database>._airbyte_state`, next to the tables it describes.

    Dropping the landing database drops its state too, so a sync never resumes from a
    state whose rows are gone. Rows are only appended: one `started` row per sync (it
    claims the sync id), one `state` row per committed STATE message, one `committed`
    row per overwrite stream swapped in.
    """

    def __init__(self, destination: Destination) -> None:
        self.client = destination.client
        self.database = destination.database
        self.table = f"{quote(destination.database)}.{quote(STATE_TABLE)}"
        self.client.command(
            f"CREATE TABLE IF NOT EXISTS {self.table}{destination.on_cluster} (sync_id UInt64, "
            "seq UInt64, stream String, kind LowCardinality(String), generation_id UInt32, "
            "state String, records UInt64, written_at DateTime64(3)) "
            f"ENGINE = {replicated('MergeTree', destination.cluster)} ORDER BY (sync_id, seq)"
        )
        self._seq = 0
        self.sync_id = int(self.client.command(f"SELECT max(sync_id) + 1 FROM {self.table}"))
        self._append("", "started", 0, {}, 0)

    def _append(self, stream: str, kind: str, generation: int, state: Any, records: int) -> None:
        self._seq += 1
        row = [self.sync_id, self._seq, stream, kind, generation, json.dumps(state), records]
        self.client.insert(
            STATE_TABLE,
            [[*row, dt.datetime.now(dt.UTC)]],
            database=self.database,
            column_names=[
                "sync_id",
                "seq",
                "stream",
                "kind",
                "generation_id",
                "state",
                "records",
                "written_at",
            ],
            settings=INSERT_SETTINGS,
        )

    def states(self) -> dict[str, dict[str, Any]]:
        """The last committed AirbyteStateMessage (`state` object) of each stream."""
        rows = self.client.query(
            f"SELECT stream, argMax(state, (sync_id, seq)) FROM {self.table} "
            "WHERE kind = 'state' GROUP BY stream"
        ).result_rows
        return {stream: json.loads(state) for stream, state in rows}

    def generations(self) -> dict[str, int]:
        """The last generation id each stream was written with."""
        rows = self.client.query(
            f"SELECT stream, argMax(generation_id, (sync_id, seq)) FROM {self.table} "
            "WHERE kind != 'started' GROUP BY stream"
        ).result_rows
        return dict(rows)

    def save(self, stream: str, generation: int, state: Any, records: int) -> None:
        self._append(stream, "state", generation, state, records)

    def committed(self, stream: str, generation: int, records: int) -> None:
        self._append(stream, "committed", generation, {}, records)
