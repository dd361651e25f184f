"""The three streams: allocations and assets (one UTC day per slice) and clusters.

Why Python CDK streams and not the declarative manifest: on one day of 50,000 containers
the manifest's DpathExtractor decodes the whole 85 MB response at once (~720 MB RSS) and
reads ~6,700 records/s, missing both the 250 MB and the speed goals. These streams parse
the body as a stream (client.py), in day workers ahead of the sync (prefetch.py), and copy
finished days to stdout (launch.py); bench/bench_connector.py measures it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airbyte_cdk.models import AirbyteMessage, AirbyteStreamStatus, FailureType, SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin, Stream
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message as stream_status_message
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_kubecost import launch, prefetch
from source_kubecost.client import KubecostClient
from source_kubecost.days import CURSOR, DayReader, iso, parse_state_day, sync_days
from source_kubecost.errors import KubecostError, config_error

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
    starts `lookback_days` before the day after the state, to pick up restated costs.
    """

    cursor_field = CURSOR

    def __init__(self, reader: DayReader, now: datetime | None = None):
        super().__init__()
        self.reader = reader
        self.settings = reader.settings
        self._now = now
        self._state: dict[str, Any] = {}
        self._running = False
        self.prefetch = (
            prefetch.shared() if self.settings.read_ahead and prefetch.can_fork() else None
        )

    @property
    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        day = parse_state_day(value)
        self._state = {CURSOR: iso(day)} if day else {}

    def days(self, sync_mode: SyncMode) -> list[date]:
        synced = parse_state_day(self._state) if sync_mode == SyncMode.incremental else None
        return sync_days(self.settings, synced, self.now, self.name)

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        days = self.days(sync_mode)
        if self.prefetch:
            self.prefetch.expect(self.reader, days)
        for day in days:
            yield {CURSOR: iso(day)}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | AirbyteMessage]:
        day = date.fromisoformat((stream_slice or {})[CURSOR][:10])
        with airbyte_errors():
            parts = (
                self.prefetch.take(self.reader, day) if self.prefetch else self.reader.fetch(day)
            )
        count = sum(part.count for part in parts)
        for part in parts:
            part.extraction_records = count
        try:
            if launch.DIRECT is None:
                for part in parts:
                    yield from part
            elif count:
                if not self._running:  # the CDK marks a stream RUNNING at its first record
                    self._running = True
                    yield stream_status_message(
                        self.as_airbyte_stream(), AirbyteStreamStatus.RUNNING
                    )
                for part in parts:
                    launch.DIRECT.write(part)
        finally:
            for part in parts:
                part.close()
        if count:
            logger.info("%s %s: %d records", self.name, day, count)
        else:
            logger.warning(
                "%s %s: no records. Kubecost has no data for this day (before its retention, "
                "or an ETL gap); it is re-read only within the lookback days.",
                self.name,
                day,
            )
        complete = self.now >= datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        synced = parse_state_day(self._state)
        if complete and (synced is None or day > synced):
            self._state = {CURSOR: iso(day)}


class Allocations(DayStream):
    primary_key = [CURSOR, "granularity", "idle_policy", "name"]


class Assets(DayStream):
    primary_key = [CURSOR, "key"]


class Clusters(Stream):
    """One record per cluster from clusterInfoMap (multi-cluster) and clusterInfo."""

    primary_key = "id"

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
        for cluster_id, info in sorted(clusters.items()):
            record = {k: _text(v) for k, v in info.items()}
            record["id"] = cluster_id
            record["profile"] = record.pop("clusterProfile", record.get("profile"))
            record["currency"] = currency
            yield record

    def _optional(self, endpoint: str, what: str) -> dict[str, Any]:
        """An endpoint that older versions and OpenCost lack: absent means empty."""
        try:
            data = self.client.get_json(endpoint, {}, what, attempts=2)
        except Exception as error:
            logger.info("No %s from %s: %s", what, endpoint, getattr(error, "message", error))
            return {}
        return data if isinstance(data, dict) else {}


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)
