"""Fixtures shared by every room's tests.

chDB allows one engine directory per process: every test in a pytest process (each xdist
worker is one) shares ``chdb_path`` and isolates itself with its own database
(``ch_database``). A test that needs its own directory runs a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
def chdb_held_by_another_process() -> Callable[[Path], contextlib.AbstractContextManager[None]]:
    """`with chdb_held_by_another_process(path):` another process holds the chDB directory
    `path` open (chDB locks a directory per process)."""
    return _chdb_held


@contextlib.contextmanager
def _chdb_held(path: Path) -> Iterator[None]:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, chdb; c = chdb.connect(sys.argv[1]); print('open', flush=True); "
            "sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        yield
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def ch_database(ch_client) -> Iterator[str]:
    """A fresh ClickHouse database, dropped after the test."""
    name = unique_name("t")
    ch_client.command(f"CREATE DATABASE `{name}`")
    yield name
    ch_client.command(f"DROP DATABASE IF EXISTS `{name}`")


class ClickHouseServer:
    """`integration_tests/clickhouse_server.py` in a process of its own: ClickHouse's HTTP
    interface on 127.0.0.1, answered by chDB (no ClickHouse server can be installed here)."""

    USER, PASSWORD = "pipeline", "s3cret p@ss/word"  # characters a URL must encode

    def __init__(
        self,
        directory: Path,
        cluster: str | None = None,
        tls: bool = False,
        user: str = USER,
        password: str = PASSWORD,
    ) -> None:
        self.user, self.password = user, password
        self.log = directory / "statements.jsonl"
        self.certificate = directory / "chdb" / "tls" / "cert.pem"  # with tls: self-signed
        command = [
            sys.executable,
            str(Path(__file__).parent / "integration_tests" / "clickhouse_server.py"),
            *("--path", str(directory / "chdb"), "--log", str(self.log)),
            *("--user", f"{user}:{password}"),
            *(("--cluster", cluster) if cluster else ()),
            *(("--tls",) if tls else ()),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"the ClickHouse test server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.scheme = "https" if tls else "http"

    def url(self, database: str = "", password: str | None = None, scheme: str = "") -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"{scheme or self.scheme}://{self.user}:{secret}@127.0.0.1:{self.port}/{database}"

    def statements(self) -> list[str]:
        """Every statement the server received so far, in order."""
        return [json.loads(line)["sql"] for line in self.log.read_text().splitlines()]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """One ClickHouse HTTP server per test process; tests isolate themselves by database."""
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse-server"))
    yield server
    server.stop()


@pytest.fixture
def start_clickhouse_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ClickHouseServer]]:
    """`start_clickhouse_server(cluster=..., tls=..., user=..., password=...)`: a ClickHouse
    HTTP server of the test's own, stopped after it."""
    started: list[ClickHouseServer] = []

    def start(**options: Any) -> ClickHouseServer:
        started.append(ClickHouseServer(tmp_path_factory.mktemp("clickhouse-server"), **options))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def render_dbt_profile(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`render_dbt_profile(env, target=None)`: the credentials dbt's own profile code builds
    from dbt_k8s_costs/profiles.yml with exactly `env` as the DBT_* environment."""

    def render(env: dict[str, str], target: str | None = None) -> Any:
        return _dbt_profile_credentials(monkeypatch, env, target)

    return render


def _dbt_profile_credentials(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], target: str | None
) -> Any:
    import argparse

    from dbt.config.profile import Profile, read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    from kubecost_pipeline.transform import DEFAULT_PROJECT_DIR

    for name in [n for n in os.environ if n.startswith("DBT_")]:
        if name not in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    set_from_args(argparse.Namespace(), None)
    set_invocation_context(os.environ)
    raw = read_profile(str(DEFAULT_PROJECT_DIR))
    return Profile.from_raw_profiles(raw, "dbt_k8s_costs", ProfileRenderer({}), target).credentials


@dataclass(frozen=True)
class ClickHouseUnderTest:
    url: str
    client: Any  # a clickhouse-connect client on `url`
    database: str  # fresh; it and every database named `<database>_*` are dropped after


@pytest.fixture(params=["chdb", "http"])
def clickhouse(request: pytest.FixtureRequest) -> Iterator[ClickHouseUnderTest]:
    """The ClickHouse of an end-to-end test, run twice: embedded chDB (this process's
    directory), then a server over HTTP (`clickhouse_server`)."""
    from kubecost_pipeline.clickhouse import connect

    if request.param == "chdb":
        url = request.getfixturevalue("chdb_url")
    else:
        url = request.getfixturevalue("clickhouse_server").url()
    client = connect(url)
    name = unique_name("t")
    client.command(f"CREATE DATABASE `{name}`")
    yield ClickHouseUnderTest(url, client, name)
    for (database,) in client.query(
        "SELECT name FROM system.databases WHERE name = {n:String} OR startsWith(name, {p:String})",
        parameters={"n": name, "p": f"{name}_"},
    ).result_rows:
        client.command(f"DROP DATABASE IF EXISTS `{database}`")
    client.close()


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
