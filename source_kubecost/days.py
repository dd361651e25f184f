"""The day streams without the CDK: the days a sync reads and how one day is fetched.

`allocations` and `assets` read one UTC day per request. A day is fetched into Spools of
finished RECORD lines, possibly in several parts (pages, or per cluster and per namespace
when the whole day keeps timing out). Runs in the day workers (workers.py), which start
before the CDK is imported; streams.py adapts it to the CDK.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from source_kubecost.client import KubecostClient
from source_kubecost.config import Settings
from source_kubecost.errors import TimedOut, config_error
from source_kubecost.records import AllocationFlattener, flatten_asset
from source_kubecost.spool import EXTRACTION_ID, EXTRACTION_RECORDS, UNCOUNTED, Extraction, Spool

logger = logging.getLogger("airbyte")
CURSOR = "window_start"
EMPTY_DAYS = "empty_days"
# How long a day Kubecost answered with no records is read again: an ETL gap (Prometheus or
# cost-model downtime) is repaired from Prometheus' metrics, which Kubecost's bundled
# Prometheus keeps for 15 days (Kubecost 1.x; 97 hours in 2.x). BEHAVIOR.md says more.
EMPTY_DAY_RETRY_DAYS = 15
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


@dataclass(frozen=True)
class StreamState:
    """A day stream's state: the last day synced, and recent days that had no records."""

    synced: date | None = None
    empty_days: tuple[date, ...] = ()

    @classmethod
    def parse(cls, state: Mapping[str, Any] | None) -> StreamState:
        """This or an older version's state; see `parse_state_day`."""
        empty: set[date] = set()
        for value in (state or {}).get(EMPTY_DAYS) or []:
            try:
                empty.add(date.fromisoformat(str(value)[:10]))
            except ValueError:
                logger.warning("Ignoring %r in the state's %s: not a date.", value, EMPTY_DAYS)
        return cls(parse_state_day(state), tuple(sorted(empty)))

    def dump(self) -> dict[str, Any]:
        state: dict[str, Any] = {CURSOR: iso(self.synced)} if self.synced else {}
        if self.empty_days:
            state[EMPTY_DAYS] = [day.isoformat() for day in self.empty_days]
        return state


def sync_days(settings: Settings, state: StreamState, now: datetime, stream: str) -> list[date]:
    """The days a sync reads, in order: recent days that had no records (`empty_days`, for at
    most EMPTY_DAY_RETRY_DAYS), then from the start date, or `lookback_days` before the day
    after the last synced one, to yesterday (today when the partial day is included)."""
    today = now.date()
    last = today if settings.include_current_day else today - timedelta(days=1)
    if settings.end_date:
        last = min(last, settings.end_date)
    first = settings.start_date
    synced = state.synced
    if synced:
        if synced >= today:
            logger.warning(
                "The %s state %s is not in the past; nothing is re-read. Reset the stream if "
                "this state is wrong.",
                stream,
                synced,
            )
            return []
        first = max(first, synced + timedelta(days=1 - settings.lookback_days))
    retried = [
        day
        for day in state.empty_days
        if today - timedelta(days=EMPTY_DAY_RETRY_DAYS) <= day < first
        and settings.start_date <= day <= last
    ]
    return retried + [first + timedelta(days=n) for n in range((last - first).days + 1)]


def new_extraction_id(now: datetime | None = None) -> str:
    """A new extraction's id: its start (UTC, microseconds) and a random suffix, so that ids
    sort by start time as strings, e.g. `2026-11-02T06:00:01.123456Z-9f1c2a7e`."""
    started = now or datetime.now(UTC)
    return f"{started:%Y-%m-%dT%H:%M:%S.%f}Z-{secrets.token_hex(4)}"


class DayReader:
    """Reads one day of a stream: one extraction, in one or more requests.

    Each `read` is one extraction of the day: every record it writes carries the same
    `extraction_id`, and `extraction_records`, the number of records of the whole
    extraction (all its parts). Downstream, a day is the set of its latest extraction whose
    records all landed (docs/records.md).
    """

    stream = ""
    unique = "name"  # the field records of one day are deduplicated on

    def __init__(self, client: KubecostClient, settings: Settings):
        self.client, self.settings = client, settings
        self.extraction_id = ""

    def extra(self) -> Mapping[str, Any]:
        """Fields added to every record besides the window and the extraction stamps."""
        return {}

    def spool(self, day: date, earlier: set[Any]) -> Spool:
        window = {CURSOR: iso(day), "window_end": iso(day + timedelta(days=1))}
        stamps = {EXTRACTION_ID: self.extraction_id, EXTRACTION_RECORDS: UNCOUNTED}
        return Spool(self.stream, self.unique, {**window, **self.extra(), **stamps}, earlier)

    def read(self, day: date) -> Extraction:
        """One extraction of `day`, finished."""
        self.extraction_id = new_extraction_id()
        return Extraction.of(self.stream, day, self.extract(day))

    def extract(self, day: date) -> list[Spool]:
        raise NotImplementedError

    def _get(
        self, endpoint: str, params: Mapping[str, str], what: str, transform: Any, spool: Spool
    ) -> Spool:
        """One request into `spool`; closed on failure, its idle keys join `earlier` after."""
        try:
            self.client.fetch(endpoint, params, what, transform, spool)
        except BaseException:
            spool.close()
            raise
        spool.earlier |= spool.seen
        return spool


class AllocationDays(DayReader):
    stream = "allocations"
    endpoint = "allocation"

    def extra(self) -> Mapping[str, Any]:
        settings = self.settings
        return {
            "granularity": settings.granularity,
            "aggregate": settings.aggregate,
            "idle_policy": settings.idle_policy,
            "query_settings": dict(settings.query_settings),
        }

    def extract(self, day: date) -> list[Spool]:
        params = {**self.settings.allocation_params(), "window": day_window(day)}
        what = f"allocations for {day}"
        earlier: set[Any] = set()
        try:
            return self._pages(day, earlier, params, what)
        except TimedOut as error:
            logger.warning("%s; splitting the day per cluster.", error.message)
        idles: list[Spool] = []  # the idle rows of the listings
        parts: list[Spool] = []
        try:
            clusters, idle = self._split(day, earlier, {})
            idles.append(idle)
            for cluster in clusters:
                scope = {"cluster": cluster}
                try:
                    parts += self._pages(day, earlier, params, f"{what}, cluster {cluster}", scope)
                except TimedOut as error:
                    logger.warning(
                        "%s; splitting cluster %s per namespace.", error.message, cluster
                    )
                    namespaces, idle = self._split(day, earlier, scope)
                    idles.append(idle)
                    for namespace in namespaces:
                        where = f"{what}, {cluster}/{namespace}"
                        inner = {**scope, "namespace": namespace}
                        parts += self._pages(day, earlier, params, where, inner)
        except _WholeDay as whole:
            logger.warning(
                "Kubecost ignored the filter of %s: that answer holds the whole day.", whole.what
            )
            for part in parts:  # the whole day has them too
                part.close()
            return idles + whole.parts
        except BaseException:
            for part in idles + parts:
                part.close()
            raise
        return idles + parts

    def _scoped(self, params: dict[str, str], scope: Mapping[str, str]) -> dict[str, str]:
        """`params` for one cluster (and namespace): a v2 `filter`, and the v1 filters that
        Kubecost before ~1.106 reads instead (later versions ignore them next to `filter`)."""
        clauses = "+".join(f'{level}:"{_quote(value)}"' for level, value in scope.items())
        user = self.settings.filter
        scoped = {**params, "filter": f"({user})+{clauses}" if user else clauses}
        for level, value in scope.items():
            if "," not in value and not value.endswith("*"):  # v1 lists and wildcards
                scoped[_V1_FILTERS[level]] = value
        return scoped

    def _outside(self, part: Spool, scope: Mapping[str, str]) -> bool:
        """Whether `part` holds rows outside `scope`: the server ignored the filter."""
        levels = [level for level in scope if level in self.settings.aggregate.split(",")]
        return any(
            not record["is_idle"] and any(record.get(level) != scope[level] for level in levels)
            for record in part
        )

    def _split(
        self, day: date, earlier: set[Any], scope: Mapping[str, str]
    ) -> tuple[list[str], Spool]:
        """The clusters (or the namespaces of the cluster in `scope`) that have costs on
        `day`, and the idle rows of that query: idle names do not depend on the aggregate,
        and queries filtered by namespace do not return idle. Spooled first, these idle
        rows win the dedup."""
        aggregate = "cluster,namespace" if scope else "cluster"
        params = {
            **self.settings.allocation_params(),
            "window": day_window(day),
            "aggregate": aggregate,
        }
        if scope:
            params = self._scoped(params, scope)
        level = aggregate.split(",")[-1]
        what = f"{level}s of {day}"
        listing = self._get(
            self.endpoint, params, what, AllocationFlattener(aggregate), self.spool(day, set())
        )
        values, idle = set(), self.spool(day, earlier)
        try:
            if scope and self._outside(listing, scope):
                raise config_error(
                    f"Kubecost ignored the filter of the {what} in cluster {scope['cluster']} "
                    "(OpenCost 1.112 and older do not filter allocations), so a day that keeps "
                    "timing out cannot be split into smaller requests. Raise the request "
                    "timeout, choose a coarser granularity, or give the server more CPU and "
                    "memory."
                )
            for record in listing:
                if record["is_idle"]:
                    idle.write(record)
                elif record.get(level):  # `__unmounted__` is a namespace of its own
                    values.add(record[level])
        except BaseException:
            idle.close()
            raise
        finally:
            listing.close()
        earlier |= idle.seen
        return sorted(values), idle

    def _pages(
        self,
        day: date,
        earlier: set[Any],
        params: dict[str, str],
        what: str,
        scope: Mapping[str, str] | None = None,
    ) -> list[Spool]:
        """The day (or the part in `scope`) in one request, or in pages of `page_size` line
        items (Kubecost only)."""
        if scope:
            params = self._scoped(params, scope)
        flatten = AllocationFlattener(self.settings.aggregate)
        size = self.settings.page_size
        parts: list[Spool] = []
        offset = 0
        try:
            while True:
                paged = {**params, "offset": str(offset), "limit": str(size)} if size else params
                page = self._get(
                    self.endpoint,
                    paged,
                    f"{what}, offset {offset}" if size else what,
                    flatten,
                    self.spool(day, earlier),
                )
                if parts and page.first is not None and page.first == parts[-1].first:
                    page.close()  # the server ignores offset/limit (OpenCost): done
                    break
                parts.append(page)
                # Idle rows come on every page in addition to `limit` line items.
                if not size or page.count - page.idle < size:
                    break
                offset += size
        except BaseException:
            for part in parts:
                part.close()
            raise
        if scope and any(self._outside(part, scope) for part in parts):
            raise _WholeDay(what, parts)
        return parts


class _WholeDay(Exception):
    """A request for part of a day answered with the whole day (its filter was ignored)."""

    def __init__(self, what: str, parts: list[Spool]):
        super().__init__(what)
        self.what, self.parts = what, parts


_V1_FILTERS = {"cluster": "filterClusters", "namespace": "filterNamespaces"}


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class AssetDays(DayReader):
    stream = "assets"
    unique = "key"

    def extract(self, day: date) -> list[Spool]:
        params = {"window": day_window(day), "accumulate": "true", "step": "1d"}
        return [
            self._get("assets", params, f"assets for {day}", flatten_asset, self.spool(day, set()))
        ]


READERS: dict[str, type[DayReader]] = {"allocations": AllocationDays, "assets": AssetDays}
