"""One sync: discover, configure the catalog, read the source, land records, commit state."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubecost_pipeline.clickhouse import ClickHouseUnavailable, ClickHouseURL, connect, explain
from kubecost_pipeline.landing import settings
from kubecost_pipeline.landing.destination import Destination, StateStore, StreamWriter
from kubecost_pipeline.landing.errors import (
    CatalogError,
    LandingError,
    RecordError,
    SourceError,
)
from kubecost_pipeline.landing.schema import TableSchema, compatible_name, table_schema
from kubecost_pipeline.landing.source import Source, default_command, log_message, trace_error

logger = logging.getLogger(__name__)


@dataclass
class StreamResult:
    """What one stream landed in this sync."""

    stream: str
    table: str
    mode: str
    generation_id: int
    records: int = 0
    states: int = 0
    state: Any = None  # the last committed stream_state
    committed: bool = False  # overwrite: swapped in; others: every record inserted


@dataclass
class SyncResult:
    """The outcome of `sync`."""

    database: str
    sync_id: int
    streams: dict[str, StreamResult] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def records(self) -> int:
        return sum(s.records for s in self.streams.values())


@dataclass(frozen=True)
class ConfiguredStream:
    stream: Mapping[str, Any]  # the discovered AirbyteStream
    schema: TableSchema
    sync_mode: str  # incremental | full_refresh
    cursor: list[str]
    primary_key: list[list[str]]


def configure(
    catalog: Iterable[Mapping[str, Any]],
    streams: Sequence[str] | None = None,
    modes: Mapping[str, str] | None = None,
) -> list[ConfiguredStream]:
    """Choose streams and sync modes; by default incremental streams with a primary key are
    append_dedup (allocations, assets) and the others overwrite (clusters)."""
    available = {s["name"]: s for s in catalog}
    modes = dict(modes or {})
    unknown = sorted((set(streams or ()) | set(modes)) - set(available))
    if unknown:
        raise CatalogError(f"Unknown stream(s) {unknown}; the source offers {sorted(available)}.")
    configured = []
    for name in streams or list(available):
        stream = available[name]
        incremental = "incremental" in stream.get("supported_sync_modes", ())
        pk = [list(p) for p in stream.get("source_defined_primary_key") or []]
        mode = modes.get(name) or ("append_dedup" if incremental and pk else "overwrite")
        cursor = list(stream.get("default_cursor_field") or [])
        sync_mode = "incremental" if incremental and mode != "overwrite" else "full_refresh"
        schema = table_schema(name, stream.get("json_schema") or {}, mode, pk, cursor)
        configured.append(ConfiguredStream(stream, schema, sync_mode, cursor, pk))
    return configured


def sync(
    source_config: Mapping[str, Any],
    clickhouse_url: str | None = None,
    database: str = settings.DEFAULT_DATABASE,
    streams: Sequence[str] | None = None,
    modes: Mapping[str, str] | None = None,
    source_command: Sequence[str] | None = None,
    batch_rows: int = settings.BATCH_ROWS,
    on_state: Callable[[StreamResult], None] | None = None,
    refresh: bool = False,
    cluster: str | None = None,
) -> SyncResult:
    """Run the source and land its records as destination-clickhouse v2 would.

    Args:
        source_config: the connector's config (as for `source-kubecost read --config`).
        clickhouse_url: `chdb:///dir` or `http(s)://user:pass@host:port`; default
            `settings.default_clickhouse_url()`.
        database: the landing database (the destination's `database` setting).
        streams: stream names to sync; default all the source offers.
        modes: stream -> `overwrite` | `append` | `append_dedup`; defaults in `configure`.
        source_command: the connector's argv prefix; default the `source-kubecost` script.
        batch_rows: rows buffered per stream before an INSERT.
        on_state: called with the stream's StreamResult after each state is committed
            (progress reporting).
        refresh: Airbyte's "refresh and retain records": ignore the saved states and read
            everything again as a new generation; landed rows stay (dedup collapses them).
        cluster: a ClickHouse cluster: DDL runs `ON CLUSTER` with Replicated engines;
            default `settings.default_cluster()`.

    Returns:
        A SyncResult. Raises SourceError (with `.result`) when the source fails: records
        and states it delivered before failing stay landed, and the next sync resumes from
        the last committed state. Raises CatalogError / RecordError for input the
        destination would refuse.
    """
    started = time.monotonic()
    database = compatible_name(database)  # as the destination names its database
    cluster = cluster or settings.default_cluster()
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        target = ClickHouseURL.parse(clickhouse_url or settings.default_clickhouse_url())
        logger.info("Landing into %s, database %s", target, database)
        client = connect(target)
    except ClickHouseUnavailable as error:
        raise LandingError(str(error)) from error
    try:
        destination = Destination(client, database, cluster)
        store = StateStore(destination)
        result = SyncResult(database=database, sync_id=store.sync_id)
        with tempfile.TemporaryDirectory(prefix="kubecost-sync-") as workdir:
            source = Source(source_command or default_command(), source_config, Path(workdir))
            _run(
                source,
                configure(source.discover(), streams, modes),
                destination,
                store,
                result,
                batch_rows,
                refresh,
                on_state,
            )
    except ClickHouseError as error:
        raise LandingError(
            f"{explain(error, target)} (landing into {database}). Records before the last "
            "committed state are kept: fix the cause and sync again."
        ) from error
    finally:
        client.close()
    result.duration_s = time.monotonic() - started
    return result


def _run(
    source: Source,
    configured: list[ConfiguredStream],
    destination: Destination,
    store: StateStore,
    result: SyncResult,
    batch_rows: int,
    refresh: bool,
    on_state: Callable[[StreamResult], None] | None,
) -> None:
    catalog, state, writers = _open_streams(
        configured, destination, store, result, batch_rows, refresh
    )
    errors: list[str] = []
    statuses: dict[str, str] = {}
    try:
        with contextlib.closing(source.read(catalog, state)) as messages:
            for message in messages:
                kind = message.get("type")
                if kind == "RECORD":
                    record = message["record"]
                    writer = writers.get(record.get("stream"))
                    if writer is None:
                        raise RecordError(
                            f"The source sent a record of stream {record.get('stream')!r}, "
                            f"which is not in the configured catalog {sorted(writers)}."
                        )
                    writer.add(record)
                elif kind == "STATE":
                    committed = _commit_state(message["state"], writers, store, result)
                    if committed is not None and on_state is not None:
                        on_state(committed)
                elif kind == "TRACE":
                    if error := trace_error(message):
                        errors.append(error)
                    if status := (message.get("trace") or {}).get("stream_status"):
                        statuses[status["stream_descriptor"]["name"]] = status["status"]
                elif kind == "LOG":
                    log_message(message)
        for writer in writers.values():
            writer.flush()
    except BaseException:
        for c in configured:
            if c.schema.mode == "overwrite":
                destination.discard(c.schema)
        raise
    succeeded = source.returncode == 0 and not errors
    for c in configured:
        default = "COMPLETE" if succeeded else "INCOMPLETE"
        complete = statuses.get(c.schema.stream, default) == "COMPLETE"
        _close_stream(c.schema, complete, writers[c.schema.stream], destination, store, result)
    if not succeeded:
        raise SourceError(
            f"The source failed (exit code {source.returncode})"
            + (f": {'; '.join(errors)}" if errors else "")
            + ". Records before its last state are landed; the next sync resumes from there.",
            result,
        )


def _open_streams(
    configured: list[ConfiguredStream],
    destination: Destination,
    store: StateStore,
    result: SyncResult,
    batch_rows: int,
    refresh: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, StreamWriter]]:
    """Prepare each stream's table; return the configured catalog, input state and writers."""
    states = {} if refresh else store.states()
    generations = store.generations()
    catalog: list[dict[str, Any]] = []
    input_state: list[dict[str, Any]] = []
    writers: dict[str, StreamWriter] = {}
    for c in configured:
        name, overwrite = c.schema.stream, c.schema.mode == "overwrite"
        previous = generations.get(name)
        bump = overwrite or refresh  # a new generation: truncation or refresh
        generation = previous + 1 if bump and previous is not None else previous or 0
        if c.sync_mode == "incremental" and name in states:
            if destination.exists(c.schema.table):
                input_state.append(states[name])
            else:
                logger.warning("Table %s is gone: %s starts from scratch", c.schema.table, name)
        table = destination.prepare(c.schema)
        writers[name] = StreamWriter(
            destination, c.schema, table, store.sync_id, generation, batch_rows
        )
        result.streams[name] = StreamResult(name, c.schema.table, c.schema.mode, generation)
        catalog.append(
            {
                "stream": dict(c.stream),
                "sync_mode": c.sync_mode,
                "cursor_field": c.cursor,
                "destination_sync_mode": c.schema.mode,
                "primary_key": c.primary_key,
                "generation_id": generation,
                "minimum_generation_id": generation if overwrite else 0,
                "sync_id": store.sync_id,
            }
        )
    return {"streams": catalog}, input_state, writers


def _close_stream(
    schema: TableSchema,
    complete: bool,
    writer: StreamWriter,
    destination: Destination,
    store: StateStore,
    result: SyncResult,
) -> None:
    """Swap a completed overwrite stream in (or drop its temporary table); log the outcome."""
    stream = result.streams[schema.stream]
    stream.records = writer.records
    if schema.mode != "overwrite":
        stream.committed = True
    elif complete:
        destination.commit(schema)
        store.committed(schema.stream, stream.generation_id, stream.records)
        stream.committed = True
    else:
        destination.discard(schema)
    logger.info(
        "Stream %s: %d records into %s.%s (%s)%s",
        schema.stream,
        stream.records,
        destination.database,
        schema.table,
        schema.mode,
        "" if stream.committed else ", not swapped in: the stream did not complete",
    )


def _commit_state(
    state: Mapping[str, Any],
    writers: Mapping[str, StreamWriter],
    store: StateStore,
    result: SyncResult,
) -> StreamResult | None:
    """Insert every record read so far, then persist the state (never the other way round).
    Returns the stream the state belongs to, or None when it is not being synced."""
    if state.get("type") != "STREAM":
        raise CatalogError(
            f"The source sent a {state.get('type')!r} state; only per-stream (STREAM) state "
            "is supported, which every API source of the Airbyte CDK emits."
        )
    name = state["stream"]["stream_descriptor"]["name"]
    for writer in writers.values():
        writer.flush()
    if name not in result.streams:
        logger.warning("Ignoring a state of stream %s, which is not being synced", name)
        return None
    stream_result = result.streams[name]
    if stream_result.mode != "overwrite":  # a full refresh has nothing to resume from
        kept = {"type": "STREAM", "stream": state["stream"]}
        store.save(name, stream_result.generation_id, kept, writers[name].records)
    stream_result.states += 1
    stream_result.state = state["stream"].get("stream_state")
    stream_result.records = writers[name].records
    return stream_result
