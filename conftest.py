"""Fixtures shared by every room's tests.

chDB allows one engine directory per process: every test in a pytest process (each xdist
worker is one) shares ``chdb_path`` and isolates itself with its own database
(``ch_database``). A test that needs its own directory runs a subprocess.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import freezegun
import pytest

# freezegun inspects every loaded module's attributes when it freezes time; clickhouse-connect
# answers an unknown attribute by importing pandas, which hangs under a frozen clock. The
# connector's mock-server tests (frozen time) may run in a worker that loaded it earlier.
freezegun.configure(extend_ignore_list=["clickhouse_connect", "chdb"])

MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("TEST_MYSQL_PASSWORD", "")


def unique_name(prefix: str) -> str:
    """A database name no other test run uses: ``<prefix>__<random>__<ms>``."""
    return f"{prefix}__{secrets.token_hex(4)}__{int(time.time() * 1000) % 10**9}"


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one embedded ClickHouse directory of this test process."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def chdb_url(chdb_path: Path) -> str:
    return f"chdb://{chdb_path}"


@pytest.fixture
def ch_client(chdb_url: str):
    """A clickhouse-connect client on the process's chDB directory."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=chdb_url)
    yield client
    client.close()


@pytest.fixture
def ch_database(ch_client) -> Iterator[str]:
    """A fresh ClickHouse database, dropped after the test."""
    name = unique_name("t")
    ch_client.command(f"CREATE DATABASE `{name}`")
    yield name
    ch_client.command(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def mysql_database() -> Iterator[str]:
    """A fresh MariaDB database on the local server, dropped after the test."""
    import pymysql

    name = unique_name("t")
    conn = pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD
    )
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield name
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture
def mysql_url(mysql_database: str) -> str:
    auth = MYSQL_USER + (f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else "")
    return f"mysql://{auth}@{MYSQL_HOST}:{MYSQL_PORT}/{mysql_database}"


@pytest.fixture(autouse=True)
def dbt_output_paths(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test's dbt runs (in process or in a child) write their own target/ and logs/:
    two xdist workers building dbt_k8s_costs at once must not share partial-parse files."""
    base = tmp_path_factory.mktemp("dbt")
    monkeypatch.setenv("DBT_TARGET_PATH", str(base / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(base / "logs"))
