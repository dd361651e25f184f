"""The day streams without the CDK: the days a sync reads and how one day is fetched.

`allocations` and `assets` read one UTC day per request. A day is fetched into Spools of
finished RECORD lines, possibly in several parts (pages, or per cluster and per namespace
when the whole day keeps timing out). Runs in the day workers (prefetch.py), which start
before the CDK is imported; streams.py adapts it to the CDK.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from source_kubecost.client import KubecostClient
from source_kubecost.config import Settings
from source_kubecost.errors import TimedOut
from source_kubecost.records import AllocationFlattener, flatten_asset
from source_kubecost.spool import Spool

logger = logging.getLogger("airbyte")
CURSOR = "window_start"
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


def sync_days(settings: Settings, synced: date | None, now: datetime, stream: str) -> list[date]:
    """The days a sync reads: from the start date, or `lookback_days` before the day after
    the last synced one, to yesterday (today when the partial day is included)."""
    today = now.date()
    last = today if settings.include_current_day else today - timedelta(days=1)
    if settings.end_date:
        last = min(last, settings.end_date)
    first = settings.start_date
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
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class DayReader:
    """Fetches one day of a stream into Spools; `earlier` parts win the deduplication."""

    stream = ""
    unique = "name"  # the field records of one day are deduplicated on

    def __init__(self, client: KubecostClient, settings: Settings):
        self.client, self.settings = client, settings

    def extra(self) -> Mapping[str, Any]:
        """Fields added to every record besides the window."""
        return {}

    def spool(self, day: date, earlier: set[Any]) -> Spool:
        window = {CURSOR: iso(day), "window_end": iso(day + timedelta(days=1))}
        return Spool(self.stream, self.unique, {**window, **self.extra()}, earlier)

    def fetch(self, day: date) -> list[Spool]:
        raise NotImplementedError

    def _get(
        self, endpoint: str, params: Mapping[str, str], what: str, transform: Any, spool: Spool
    ) -> Spool:
        """One request into `spool`; closed on failure, its keys count as `earlier` after."""
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

    def fetch(self, day: date) -> list[Spool]:
        params = {**self.settings.allocation_params(), "window": day_window(day)}
        what = f"allocations for {day}"
        earlier: set[Any] = set()
        try:
            return self._pages(day, earlier, params, what)
        except TimedOut as error:
            logger.warning("%s; splitting the day per cluster.", error.message)
        parts: list[Spool] = []
        try:
            clusters, idle = self._split(day, earlier, "cluster", "")
            parts.append(idle)
            for cluster in clusters:
                scope = f'cluster:"{_quote(cluster)}"'
                try:
                    parts += self._pages(
                        day, earlier, self._scoped(params, scope), f"{what}, cluster {cluster}"
                    )
                except TimedOut as error:
                    logger.warning(
                        "%s; splitting cluster %s per namespace.", error.message, cluster
                    )
                    namespaces, idle = self._split(day, earlier, "cluster,namespace", scope)
                    parts.append(idle)
                    for namespace in namespaces:
                        inner = f'{scope}+namespace:"{_quote(namespace)}"'
                        parts += self._pages(
                            day,
                            earlier,
                            self._scoped(params, inner),
                            f"{what}, {cluster}/{namespace}",
                        )
        except BaseException:
            for part in parts:
                part.close()
            raise
        return parts

    def _scoped(self, params: dict[str, str], scope: str) -> dict[str, str]:
        user = self.settings.filter
        return {**params, "filter": f"({user})+{scope}" if user else scope}

    def _split(
        self, day: date, earlier: set[Any], aggregate: str, scope: str
    ) -> tuple[list[str], Spool]:
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
        listing = self._get(
            self.endpoint,
            params,
            f"{level}s of {day}",
            AllocationFlattener(aggregate),
            self.spool(day, set()),
        )
        values, idle = set(), self.spool(day, earlier)
        try:
            for record in listing:
                if record["is_idle"]:
                    idle.write(record)
                elif record.get(level):  # `__unmounted__` is a namespace of its own
                    values.add(record[level])
        finally:
            listing.close()
        earlier |= idle.seen
        return sorted(values), idle

    def _pages(
        self, day: date, earlier: set[Any], params: dict[str, str], what: str
    ) -> list[Spool]:
        """The day in one request, or in pages of `page_size` line items (Kubecost only)."""
        flatten = AllocationFlattener(self.settings.aggregate)
        size = self.settings.page_size
        if not size:
            return [self._get(self.endpoint, params, what, flatten, self.spool(day, earlier))]
        parts: list[Spool] = []
        offset = 0
        try:
            while True:
                page = self._get(
                    self.endpoint,
                    {**params, "offset": str(offset), "limit": str(size)},
                    f"{what}, offset {offset}",
                    flatten,
                    self.spool(day, earlier),
                )
                parts.append(page)
                # A server that ignores offset/limit (OpenCost) repeats the first page: its
                # records were all seen before, so the page comes back empty.
                if page.count - page.idle < size:
                    return parts
                offset += size
        except BaseException:
            for part in parts:
                part.close()
            raise


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class AssetDays(DayReader):
    stream = "assets"
    unique = "key"

    def fetch(self, day: date) -> list[Spool]:
        params = {"window": day_window(day), "accumulate": "true", "step": "1d"}
        return [
            self._get("assets", params, f"assets for {day}", flatten_asset, self.spool(day, set()))
        ]


READERS: dict[str, type[DayReader]] = {"allocations": AllocationDays, "assets": AssetDays}
