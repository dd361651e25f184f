"""The three streams: allocations and assets (one UTC day per slice) and clusters.

Why Python CDK streams and not the declarative manifest: on one day of 50,000 containers
the manifest's DpathExtractor decodes the whole 85 MB response at once (~720 MB RSS) and
reads ~6,700 records/s, missing both the 250 MB and the speed goals. These streams parse
the body as a stream (see client.py) and stay bounded; bench/bench_connector.py measures it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin, Stream

from source_kubecost.client import KubecostClient, Spool, TimedOut
from source_kubecost.config import Settings, config_error
from source_kubecost.read_ahead import ReadAhead
from source_kubecost.records import AllocationFlattener, flatten_asset

logger = logging.getLogger("airbyte")
CURSOR = "window_start"
# Days parsed in parallel while one is emitted. 2 measured 1.3-1.4x the parquet approach
# against 1.1x, but its summed RSS reached 250 MB (PSS 138 MB); see notes/connector.md.
READ_AHEAD_DAYS = 1
_STATE_KEYS = (CURSOR, "start", "cursor", "date")


def iso(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def day_window(day: date) -> str:
    return f"{iso(day)},{iso(day + timedelta(days=1))}"


def parse_state_day(state: Mapping[str, Any] | None) -> date | None:
    """The last fully synced day from this or an older connector version's state.

    Accepts `{"window_start": "2024-05-01T00:00:00Z"}`, a bare date, epoch seconds, older key
    names, and the CDK's concurrent `{"slices": [{"start", "end"}]}` form (its low-water mark).
    Anything else is logged and ignored: the sync then starts from the start date.
    """
    if not state:
        return None
    value: Any = next((state[k] for k in _STATE_KEYS if state.get(k) not in (None, "")), None)
    exclusive = False
    slices = state.get("slices")
    if value is None and isinstance(slices, list) and slices and isinstance(slices[0], dict):
        value = slices[0].get("most_recent_cursor_value")
        if not value:
            # A slice end at midnight is exclusive: its last day is the one before.
            value = slices[0].get("end")
            exclusive = isinstance(value, str) and value[10:19] == "T00:00:00"
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, UTC).date()
        if isinstance(value, str) and len(value) >= 10:
            return date.fromisoformat(value[:10]) - timedelta(days=exclusive)
    except (ValueError, OverflowError, OSError):
        pass
    logger.warning("Ignoring unreadable state %r; syncing from the start date.", dict(state))
    return None


class DayStream(Stream, CheckpointMixin):
    """An incremental stream with one slice per UTC day.

    State is the `window_start` of the last day read completely; slices run in order and a
    failing day stops the stream, so the state only advances over finished, contiguous days.
    A partial (current) day is emitted when configured but never checkpointed. Each sync
    starts `lookback_days` before the day after the state, to pick up restated costs.
    """

    cursor_field = CURSOR
    endpoint = ""
    unique = "name"  # the field records of one day are deduplicated on
    extra: Mapping[str, Any] = {}  # fields added to every record

    def __init__(self, client: KubecostClient, settings: Settings, now: datetime | None = None):
        super().__init__()
        self.client = client
        self.settings = settings
        self._now = now
        self._state: dict[str, Any] = {}
        self._days: list[date] = []
        self.read_ahead = ReadAhead(client, self.fetch_day, settings.read_ahead)

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
        today = self.now.date()
        last = today if self.settings.include_current_day else today - timedelta(days=1)
        if self.settings.end_date:
            last = min(last, self.settings.end_date)
        first = self.settings.start_date
        synced = parse_state_day(self._state) if sync_mode == SyncMode.incremental else None
        if synced:
            if synced >= today:
                logger.warning(
                    "The %s state %s is not in the past; nothing is re-read. Reset the stream "
                    "if this state is wrong.",
                    self.name,
                    synced,
                )
                return []
            first = max(first, synced + timedelta(days=1 - self.settings.lookback_days))
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        self._days = self.days(sync_mode)
        for day in self._days:
            yield {CURSOR: iso(day)}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        day = date.fromisoformat((stream_slice or {})[CURSOR][:10])
        parts = self.read_ahead.take(day)
        for later in [d for d in self._days if d > day][:READ_AHEAD_DAYS]:
            self.read_ahead.start(later)
        constants = {CURSOR: iso(day), "window_end": iso(day + timedelta(days=1)), **self.extra}
        count, seen = 0, set()
        try:
            for part in parts:
                for record in part:
                    name = record.get(self.unique)
                    if name in seen:
                        continue
                    seen.add(name)
                    record.update(constants)
                    count += 1
                    yield record
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

    def fetch_day(self, day: date) -> list[Spool]:
        raise NotImplementedError


class Allocations(DayStream):
    primary_key = [CURSOR, "granularity", "idle_policy", "name"]
    endpoint = "allocation"

    def __init__(self, client: KubecostClient, settings: Settings, now: datetime | None = None):
        super().__init__(client, settings, now)
        self.extra = {
            "granularity": settings.granularity,
            "aggregate": settings.aggregate,
            "idle_policy": settings.idle_policy,
            "query_settings": dict(settings.query_settings),
        }

    def fetch_day(self, day: date) -> list[Spool]:
        params = {**self.settings.allocation_params(), "window": day_window(day)}
        what = f"allocations for {day}"
        try:
            return self._pages(params, what)
        except TimedOut as error:
            logger.warning("%s; splitting the day per cluster.", error.message)
        parts: list[Spool] = []
        try:
            clusters, idle = self._split(day, "cluster", "")
            parts.append(idle)
            for cluster in clusters:
                scope = f'cluster:"{_quote(cluster)}"'
                try:
                    parts += self._pages(self._scoped(params, scope), f"{what}, cluster {cluster}")
                except TimedOut as error:
                    logger.warning(
                        "%s; splitting cluster %s per namespace.", error.message, cluster
                    )
                    namespaces, idle = self._split(day, "cluster,namespace", scope)
                    parts.append(idle)
                    for namespace in namespaces:
                        inner = f'{scope}+namespace:"{_quote(namespace)}"'
                        parts += self._pages(
                            self._scoped(params, inner), f"{what}, {cluster}/{namespace}"
                        )
        except BaseException:
            for part in parts:
                part.close()
            raise
        return parts

    def _scoped(self, params: dict[str, str], scope: str) -> dict[str, str]:
        user = self.settings.filter
        return {**params, "filter": f"({user})+{scope}" if user else scope}

    def _split(self, day: date, aggregate: str, scope: str) -> tuple[list[str], Spool]:
        """The clusters (or namespaces of one cluster) that have costs on `day`, and the idle
        rows of that query: idle names do not depend on the aggregate, and queries filtered
        by namespace do not return idle. Spooled first, these idle rows win the dedup."""
        params = {
            **self.settings.allocation_params(),
            "window": day_window(day),
            "aggregate": aggregate,
        }
        if scope:
            params = self._scoped(params, scope)
        level = aggregate.split(",")[-1]
        listing = self.client.fetch(
            self.endpoint, params, f"{level}s of {day}", AllocationFlattener(aggregate)
        )
        values, idle = set(), Spool()
        for record in listing:
            if record["is_idle"]:
                idle.write(record)
            elif record.get(level):  # `__unmounted__` is a namespace of its own
                values.add(record[level])
        return sorted(values), idle

    def _pages(self, params: dict[str, str], what: str) -> list[Spool]:
        """The day in one request, or in pages of `page_size` line items (Kubecost only)."""
        flatten = AllocationFlattener(self.settings.aggregate)
        size = self.settings.page_size
        if not size:
            return [self.client.fetch(self.endpoint, params, what, flatten)]
        parts: list[Spool] = []
        offset = 0
        try:
            while True:
                page = self.client.fetch(
                    self.endpoint,
                    {**params, "offset": str(offset), "limit": str(size)},
                    f"{what}, offset {offset}",
                    flatten,
                )
                if parts and page.count and page.first == parts[-1].first:
                    page.close()  # the server ignores offset/limit (OpenCost): done
                    return parts
                parts.append(page)
                # Idle rows come on every page in addition to `limit` line items.
                if page.count - page.idle < size:
                    return parts
                offset += size
        except BaseException:
            for part in parts:
                part.close()
            raise


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class Assets(DayStream):
    primary_key = [CURSOR, "key"]
    endpoint = "assets"
    unique = "key"

    def fetch_day(self, day: date) -> list[Spool]:
        params = {"window": day_window(day), "accumulate": "true", "step": "1d"}
        return [self.client.fetch(self.endpoint, params, f"assets for {day}", flatten_asset)]


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
