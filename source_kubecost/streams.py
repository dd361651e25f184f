"""The three streams: allocations and assets (one UTC day per slice) and clusters.

Why Python CDK streams and not the declarative manifest: on one day of 50,000 containers
the manifest's DpathExtractor decodes the whole 85 MB response at once (~720 MB RSS) and
reads ~6,700 records/s, missing both the 250 MB and the speed goals. These streams parse
the body as a stream (client.py), in day workers ahead of the sync (workers.py), and copy
finished days to the output (output.py); bench/bench_connector.py measures it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airbyte_cdk.models import AirbyteMessage, AirbyteStreamStatus, FailureType, SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin, Stream
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message as stream_status_message
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_kubecost.catalog import STREAMS
from source_kubecost.client import KubecostClient
from source_kubecost.days import (
    CURSOR,
    EMPTY_DAY_RETRY_DAYS,
    DayReader,
    StreamState,
    iso,
    sync_days,
)
from source_kubecost.errors import ApiNotFound, KubecostError, QueryRejected, config_error

if TYPE_CHECKING:
    from source_kubecost.output import DirectOutput
    from source_kubecost.workers import DayWorkers

logger = logging.getLogger("airbyte")


@contextmanager
def airbyte_errors() -> Iterator[None]:
    """Raises a KubecostError as the Airbyte traced error it describes."""
    try:
        yield
    except KubecostError as error:
        raise AirbyteTracedException(
            message=error.message,
            internal_message=error.internal_message,
            failure_type=FailureType(error.failure_type),
        ) from error


class DayStream(Stream, CheckpointMixin):
    """An incremental stream with one slice per UTC day.

    State is the `window_start` of the last day read completely; slices run in order and a
    failing day stops the stream, so the state only advances over finished, contiguous days.
    A partial (current) day is emitted when configured but never checkpointed. Each sync
    starts `lookback_days` before the day after the state, to pick up restated costs. Days
    Kubecost answered with no records are kept in the state (`empty_days`) and read again
    while they are recent (days.py).

    `sink` (output.py) takes finished days to copy them to the output; without one, records
    are yielded to the CDK. `workers` (workers.py) read days ahead when `read_ahead` is on.
    """

    cursor_field = CURSOR

    def __init__(
        self,
        reader: DayReader,
        sink: DirectOutput | None = None,
        workers: DayWorkers | None = None,
        now: datetime | None = None,
    ):
        super().__init__()
        self.reader = reader
        self.settings = reader.settings
        self.sink = sink
        self.workers = workers if self.settings.read_ahead else None
        self._now = now
        self._state = StreamState()
        self._running = False
        self._copied = 0

    @property
    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state.dump()

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._state = StreamState.parse(value)

    def days(self, sync_mode: SyncMode) -> list[date]:
        state = self._state if sync_mode == SyncMode.incremental else StreamState()
        return sync_days(self.settings, state, self.now, self.name)

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        days = self.days(sync_mode)
        if self.workers:
            with airbyte_errors():
                self.workers.expect(self.reader, days)
        for day in days:
            yield {CURSOR: iso(day)}
        if self.sink is not None:
            # The CDK's own "Read N records" line counts only the records it emitted.
            plural = "" if len(days) == 1 else "s"
            logger.info(
                "%s: %d records of %d day%s copied to the output",
                self.name,
                self._copied,
                len(days),
                plural,
            )

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | AirbyteMessage]:
        day = date.fromisoformat((stream_slice or {})[CURSOR][:10])
        with airbyte_errors():
            extraction = (
                self.workers.take(self.reader, day) if self.workers else self.reader.read(day)
            )
        with closing(extraction):
            if self.sink is None:
                yield from extraction
            elif extraction.records:
                if not self._running:  # the CDK marks a stream RUNNING at its first record
                    self._running = True
                    yield stream_status_message(
                        self.as_airbyte_stream(), AirbyteStreamStatus.RUNNING
                    )
                self.sink.write(extraction)
                self._copied += extraction.records
        self._checkpoint(day, extraction.records)

    def _checkpoint(self, day: date, records: int) -> None:
        """The state after `day` was read: past it when the day is over, and `day` kept in (or
        taken off) the empty days."""
        empty = set(self._state.empty_days)
        if records:
            logger.info("%s %s: %d records", self.name, day, records)
            empty.discard(day)
        else:
            logger.warning(
                "%s %s: no records. Kubecost has no data for this day (before its retention, "
                "or an ETL gap); nothing is emitted, and the day is read again at the next "
                "syncs while it is less than %d days old.",
                self.name,
                day,
                EMPTY_DAY_RETRY_DAYS,
            )
        synced = self._state.synced
        complete = self.now >= datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        if complete:
            if not records:
                empty.add(day)
            if synced is None or day > synced:
                synced = day
        horizon = self.now.date() - timedelta(days=EMPTY_DAY_RETRY_DAYS)
        self._state = StreamState(synced, tuple(sorted(d for d in empty if d >= horizon)))


class Allocations(DayStream):
    primary_key = STREAMS["allocations"][0]


class Assets(DayStream):
    primary_key = STREAMS["assets"][0]


class Clusters(Stream):
    """One record per cluster from clusterInfoMap (multi-cluster) and clusterInfo, with the
    currency (getConfigs) and version (installInfo) of the Kubecost that answered."""

    primary_key = STREAMS["clusters"][0]

    def __init__(self, client: KubecostClient):
        super().__init__()
        self.client = client

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        with airbyte_errors():
            records = self._records()
        yield from records

    def _records(self) -> list[dict[str, Any]]:
        local = self.client.get_json("clusterInfo", {}, "cluster info") or {}
        if not isinstance(local, dict):
            raise config_error(f"clusterInfo returned {type(local).__name__}, not an object")
        clusters: dict[str, dict[str, Any]] = {}
        for info in self._optional("clusterInfoMap", "cluster map").values():
            if isinstance(info, dict) and info.get("id"):
                clusters[str(info["id"])] = dict(info)
        local_id = str(local.get("id") or local.get("name") or "")
        if local_id:
            clusters[local_id] = {**local, **clusters.get(local_id, {})}
        currency = self._optional("getConfigs", "currency").get("currencyCode") or None
        kubecost_version = self._optional("installInfo", "Kubecost version").get("version")
        records = []
        for cluster_id, info in sorted(clusters.items()):
            record = {k: _text(v) for k, v in info.items()}
            record["id"] = cluster_id
            record["profile"] = record.pop("clusterProfile", record.get("profile"))
            record["currency"] = currency
            record["kubecostVersion"] = _text(kubecost_version) or None
            records.append(record)
        return records

    def _optional(self, endpoint: str, what: str) -> dict[str, Any]:
        """An endpoint that older versions and OpenCost lack: absent means empty."""
        try:
            data = self.client.get_json(endpoint, {}, what, attempts=2)
        except (ApiNotFound, QueryRejected) as error:
            logger.info("No %s from %s: %s", what, endpoint, error.message)
            return {}
        return data if isinstance(data, dict) else {}


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)
