"""CloudTuner's MySQL (`my-db`): account lookups, the advisory lock and `discovery_info`.

`discovery_info` has no server-side defaults (OptScale sets them in SQLAlchemy), so every
insert names every NOT NULL column. Timestamps are int unix seconds.

The hook's rows are `enabled = 0`: OptScale's discovery scheduler publishes a task only for
enabled rows (docker_images/resource_discovery/scheduler.py, `if di_info['enabled']`) and its
worker skips disabled ones (worker.py, `check_discover_enabled`), so OptScale never runs its
own pod discovery on a Kubecost-fed account, whose `last_discovery_at` would otherwise move
past the hook's `last_seen` and make the observer unset `active` on every pod. The observer
itself reads disabled rows (cloud_resource_discover.py, `try_load_from_cache`), so the hook's
`last_discovery_at` still keeps active pods active.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kubecost_pipeline.post_sync import settings
from kubecost_pipeline.post_sync.errors import ConfigError, LockBusyError, StoreError
from kubecost_pipeline.post_sync.stats import Stats

logger = logging.getLogger(__name__)
STORE = "MySQL"


def connect(url: str) -> Any:
    """A PyMySQL connection (autocommit) from ``mysql://user:pass@host:port/db``."""
    import pymysql

    parts = urlsplit(url)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        return pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.lstrip("/")) or None,
            charset=options.get("charset", "utf8mb4"),
            unix_socket=options.get("unix_socket"),
            autocommit=True,
        )
    except pymysql.MySQLError as exc:
        raise StoreError("MySQL", exc) from exc


@dataclass(frozen=True)
class Owner:
    pool_id: str
    employee_id: str


class Discovery:
    """MySQL reads and writes for one cloud account, on one connection (the lock's session)."""

    def __init__(self, conn: Any, account_id: str, stats: Stats):
        self.conn, self.account_id, self.stats = conn, account_id, stats

    @contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        """Hold MySQL's advisory lock of this account; LockBusyError if another run has it."""
        name = settings.LOCK_PREFIX + self.account_id
        (got,) = self._fetch("SELECT GET_LOCK(%s, %s)", (name, timeout))[0]
        if got != 1:
            raise LockBusyError(self.account_id, name, timeout)
        try:
            yield
        finally:
            try:
                self._fetch("SELECT RELEASE_LOCK(%s)", (name,))
            except StoreError:
                logger.warning("Could not release %s; MySQL frees it when the session ends", name)

    def supported_types(self) -> dict[str, str]:
        """level -> discovery_info resource_type, for the levels the table's enum has."""
        rows = self._fetch(settings.DISCOVERY_ENUM_SQL)
        if not rows:
            raise StoreError(
                STORE,
                "the MySQL database has no discovery_info.resource_type column; point "
                "--mysql-url at CloudTuner's database (OptScale's `my-db`)",
            )
        members = set(re.findall(r"'((?:[^']|'')*)'", rows[0][0]))
        return {lvl: t for lvl, t in settings.DISCOVERY_TYPES.items() if t in members}

    def owner(self, pool_id: str = "", employee_id: str = "") -> Owner:
        """The configured pool/owner, else the organization's root pool and its default owner."""
        found = self._fetch(
            "SELECT organization_id, type, auto_import FROM cloudaccount "
            "WHERE id = %s AND deleted_at = 0",
            (self.account_id,),
        )
        if not found:
            raise ConfigError(
                [
                    f"cloud account {self.account_id} is not in MySQL cloudaccount (or is "
                    "deleted); create a kubernetes_cnr account in CloudTuner and map the "
                    "cluster to its id"
                ]
            )
        organization_id, kind, auto_import = found[0]
        if str(kind).upper() != "KUBERNETES_CNR":
            logger.warning("Cloud account %s is %s, not KUBERNETES_CNR", self.account_id, kind)
        if auto_import:
            logger.warning(
                "Cloud account %s has auto_import on: OptScale's own Kubernetes import would "
                "bill its pods a second time; turn auto_import off for Kubecost-fed accounts",
                self.account_id,
            )
        if pool_id:
            self._require("pool", pool_id, organization_id, "pool_id")
            self._require("employee", employee_id, organization_id, "employee_id")
            return Owner(pool_id, employee_id)
        pools = self._fetch(
            "SELECT id, default_owner_id FROM pool "
            "WHERE organization_id = %s AND parent_id IS NULL AND deleted_at = 0",
            (organization_id,),
        )
        if not pools or not pools[0][1]:
            what = "root pool" if not pools else f"root pool {pools[0][0]}'s default owner"
            raise ConfigError(
                [
                    f"organization {organization_id} of cloud account {self.account_id} has no "
                    f"{what}; set pool_id and employee_id in the hook configuration"
                ]
            )
        return Owner(pools[0][0], pools[0][1])

    def ensure_rows(self, resource_types: Sequence[str], now: int, dry_run: bool) -> list[str]:
        """Insert the missing live rows of `resource_types`, disabled, and disable the ones
        OptScale created enabled (with the cloud account); returns the types inserted."""
        present = dict(
            self._fetch(
                "SELECT resource_type, enabled FROM discovery_info "
                "WHERE cloud_account_id = %s AND deleted_at = 0",
                (self.account_id,),
            )
        )
        missing = [t for t in resource_types if t not in present]
        enabled = [t for t in resource_types if present.get(t)]
        if enabled:
            logger.warning(
                "Cloud account %s: disabling OptScale's own %s discovery (discovery_info."
                "enabled = 0); the hook's runs are this account's discovery",
                self.account_id,
                ", ".join(enabled),
            )
        if dry_run:
            return missing
        if missing:
            self._execute(
                "INSERT INTO discovery_info (id, created_at, deleted_at, cloud_account_id, "
                "resource_type, observe_time, last_discovery_at, last_error_at, last_error, "
                "enabled) VALUES (%s, %s, 0, %s, %s, %s, 0, 0, NULL, 0)",
                [(str(uuid.uuid4()), now, self.account_id, t, now) for t in missing],
            )
        self._set(enabled, "enabled = 0", ())
        return missing

    def succeeded(self, resource_types: Sequence[str], started_at: int) -> None:
        self._set(resource_types, "last_discovery_at = %s", (started_at,))

    def failed(self, resource_types: Sequence[str], at: int, error: str) -> None:
        message = error[: settings.LAST_ERROR_MAX]
        self._set(resource_types, "last_error_at = %s, last_error = %s", (at, message))

    def _set(self, resource_types: Sequence[str], assignment: str, values: tuple) -> None:
        if not resource_types:
            return
        marks = ", ".join(["%s"] * len(resource_types))
        self._execute(
            f"UPDATE discovery_info SET {assignment} "  # `assignment`: a constant of this module
            f"WHERE cloud_account_id = %s AND deleted_at = 0 AND resource_type IN ({marks})",
            [(*values, self.account_id, *resource_types)],
        )

    def _require(self, table: str, row_id: str, organization_id: str, setting: str) -> None:
        sql = {
            "pool": "SELECT 1 FROM pool WHERE id = %s AND organization_id = %s AND deleted_at = 0",
            "employee": "SELECT 1 FROM employee "
            "WHERE id = %s AND organization_id = %s AND deleted_at = 0",
        }[table]
        if not self._fetch(sql, (row_id, organization_id)):
            raise ConfigError(
                [
                    f"{setting} {row_id} is not a live {table} of organization "
                    f"{organization_id}; fix {setting} or unset it"
                ]
            )

    def _fetch(self, sql: str, args: tuple = ()) -> list[tuple]:
        self.stats.count("mysql")
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        except Exception as exc:
            raise StoreError(STORE, exc, self.account_id) from exc

    def _execute(self, sql: str, rows: list[tuple]) -> None:
        self.stats.count("mysql")
        try:
            with self.conn.cursor() as cur:
                cur.executemany(sql, rows)
        except Exception as exc:
            raise StoreError(STORE, exc, self.account_id) from exc
