"""Fixtures of the post_sync tests: real MariaDB and chDB, mongomock with OptScale's indexes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kubecost_pipeline.post_sync import HookConfig, Stores, load_config, sandbox
from kubecost_pipeline.post_sync.discovery import connect


@pytest.fixture
def mongo() -> Any:
    client = sandbox.mongomock_client()
    sandbox.create_mongo_indexes(client["restapi"]["resources"])
    return client


@pytest.fixture
def resources(mongo: Any) -> Any:
    return mongo["restapi"]["resources"]


@pytest.fixture
def org(mysql_url: str) -> sandbox.Organization:
    conn = connect(mysql_url)
    sandbox.create_mysql_tables(conn)
    organization = sandbox.seed_organization(conn, accounts=2)
    conn.close()
    return organization


@pytest.fixture
def mysql(mysql_url: str) -> Any:
    conn = connect(mysql_url)
    yield conn
    conn.close()


@pytest.fixture
def marts_db(ch_client: Any, ch_database: str) -> str:
    return ch_database


@pytest.fixture
def expenses_db(ch_client: Any) -> Any:
    name = f"exp__{uuid.uuid4().hex[:12]}"
    ch_client.command(f"CREATE DATABASE `{name}`")
    yield name
    ch_client.command(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def make_config(
    chdb_url: str, mysql_url: str, marts_db: str, expenses_db: str, org: sandbox.Organization
) -> Any:
    def make(**overrides: Any) -> HookConfig:
        values: dict[str, Any] = {
            "marts_url": chdb_url,
            "marts_database": marts_db,
            "mongodb_uri": "mongodb://hook:s3cret@mongo.invalid:27017",
            "mysql_url": mysql_url,
            "expenses_database": expenses_db,
            "cluster_accounts": {"prod-eu": org.account_ids[0], "dev": org.account_ids[1]},
        }
        values.update(overrides)
        return load_config(environ={}, overrides=values)

    return make


@pytest.fixture
def stores(ch_client: Any, mongo: Any, mysql_url: str) -> Stores:
    return Stores(
        marts=ch_client, expenses=ch_client, mongo=mongo, mysql=lambda: connect(mysql_url)
    )
