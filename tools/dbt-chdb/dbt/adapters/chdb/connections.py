"""Credentials and connections of `type: chdb`: a clickhouse-connect client with
`interface="chdb"` on the profile's `chdb_path`, wrapped like dbt-clickhouse's HTTP client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import clickhouse_connect
from dbt.adapters.clickhouse.connections import ClickHouseConnectionManager
from dbt.adapters.clickhouse.credentials import ClickHouseCredentials
from dbt.adapters.clickhouse.dbclient import ChRetryableException
from dbt.adapters.clickhouse.httpclient import ChHttpClient
from dbt.adapters.clickhouse.logger import logger
from dbt_common.exceptions import DbtConfigError


@dataclass
class ChdbCredentials(ClickHouseCredentials):
    """dbt-clickhouse credentials plus `chdb_path`, the embedded engine's directory."""

    chdb_path: str = ""

    @property
    def type(self) -> str:
        return "chdb"

    @property
    def unique_field(self) -> str:
        return self.chdb_path

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.chdb_path:
            raise DbtConfigError(
                "A `type: chdb` profile needs `chdb_path`, the directory of the embedded "
                "ClickHouse engine, e.g. chdb_path: \"{{ env_var('DBT_CHDB_PATH') }}\"."
            )
        self.chdb_path = str(Path(self.chdb_path).expanduser().resolve())

    def _connection_keys(self) -> tuple[str, ...]:
        return ("chdb_path", *super()._connection_keys())


class ChdbClient(ChHttpClient):
    """dbt-clickhouse's clickhouse-connect wrapper; only the client creation differs."""

    def _create_client(self, credentials: ChdbCredentials):  # type: ignore[override]
        Path(credentials.chdb_path).mkdir(parents=True, exist_ok=True)
        try:
            return clickhouse_connect.get_client(
                interface="chdb",
                path=credentials.chdb_path,
                query_limit=0,
                settings=self._conn_settings,
            )
        except Exception as error:
            raise ChRetryableException(
                f"Cannot open chDB at {credentials.chdb_path}: {error}. chDB lets one process "
                "open a directory at a time: wait for the other process to finish."
            ) from error


class ChdbConnectionManager(ClickHouseConnectionManager):
    TYPE = "chdb"

    @classmethod
    def open(cls, connection):
        if connection.state == "open":
            logger.debug("Connection is already open, skipping open.")
            return connection
        credentials = cls.get_credentials(connection.credentials)
        return cls.retry_connection(
            connection,
            connect=lambda: ChdbClient(credentials),
            logger=logger,
            retry_limit=credentials.retries,
            retryable_exceptions=[ChRetryableException],
        )
