"""`kubecost-pipeline project` end to end: flags and environment, dry run, real run, errors.

Real MariaDB and chDB; MongoDB is mongomock (no server can run here), swapped in for
pymongo.MongoClient so the CLI's own connection code runs.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from kubecost_pipeline.cli import main
from kubecost_pipeline.post_sync import sandbox
from kubecost_pipeline.post_sync.discovery import connect


@pytest.fixture
def cloudtuner(mysql_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    conn = connect(mysql_url)
    sandbox.create_mysql_tables(conn)
    org = sandbox.seed_organization(conn)
    mongo = sandbox.mongomock_client()
    sandbox.create_mongo_indexes(mongo["restapi"]["resources"])
    monkeypatch.setattr("pymongo.MongoClient", lambda *args, **kwargs: mongo)
    yield org, mongo, conn
    conn.close()


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, chdb_url: str, ch_client: Any, ch_database: str, mysql_url: str
) -> str:
    sandbox.write_marts(
        ch_client, ch_database, [sandbox.synthetic_cluster("prod-eu", date(2026, 10, 1), 3, 6)]
    )
    expenses = f"cloudtuner_{uuid.uuid4().hex[:8]}"
    ch_client.command(f"CREATE DATABASE `{expenses}`")
    for name, value in {
        "CLICKHOUSE__URL": chdb_url,
        "CLICKHOUSE__DATABASE": ch_database,
        "MONGODB__URI": "mongodb://hook:mongo-secret@mongo.invalid:27017",
        "MYSQL__URL": mysql_url,
        "EXPENSES__DATABASE": expenses,
    }.items():
        monkeypatch.setenv(f"KUBECOST_PIPELINE__{name}", value)
    return expenses


def test_given_dry_run_then_plan_printed_and_nothing_written_then_real_run_writes(
    env: str, cloudtuner: Any, ch_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    org, mongo, _ = cloudtuner
    args = ["project", "--cluster-account", f"prod-eu={org.account_ids[0]}"]

    assert main([*args, "--dry-run", "--create-expenses-table"]) == 0

    out = capsys.readouterr().out
    assert "dry run" in out and "14 inserts" in out and "18 new days" in out
    assert mongo["restapi"]["resources"].count_documents({}) == 0
    assert not ch_client.command(f"EXISTS TABLE `{env}`.expenses")

    assert main([*args, "--create-expenses-table"]) == 0

    out = capsys.readouterr().out
    assert "applied" in out and "wrote 18 rows" in out
    # resources: the 6 pods; roll-ups (cluster, 3 nodes, 4 namespaces) are never active
    assert mongo["restapi"]["resources"].count_documents({"active": True}) == 6
    assert main(args) == 0
    out = capsys.readouterr().out  # a later second: only the heartbeat (last_seen) moves
    assert "0 inserts" in out and "0 new days, 0 corrections" in out and "wrote 0 rows" in out


def test_given_bad_configuration_then_exit_2_with_every_problem_and_no_secret(
    env: str, cloudtuner: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECOST_PIPELINE__MYSQL__URL", "postgres://hook:pg-secret@db/my-db")

    code = main(
        ["project", "--cluster-account", "prod-eu=not-a-uuid", "--expense-levels", "pod,node"]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert "postgres://hook:***@db/my-db" in err and "pg-secret" not in err
    assert "`not-a-uuid`, which is not a cloud account id" in err
    assert "would count the same money twice" in err


def test_given_missing_marts_then_exit_1_naming_the_store_and_the_fix(
    env: str, cloudtuner: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    org, _, _ = cloudtuner

    code = main(
        [
            "project",
            "--cluster-account",
            f"prod-eu={org.account_ids[0]}",
            "--marts-database",
            "nope",
        ]
    )

    err = capsys.readouterr().err
    assert code == 1
    assert "ClickHouse marts failed" in err and "run `dbt build`" in err
    assert "mongo-secret" not in err


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("MONGODB__URI", "mongodb://hook:mongo-secret@mongo:notaport", "is not a MongoDB URI"),
        ("MONGODB__URI", "mongodb://hook:mongo-secret@", "is not a MongoDB URI"),
        ("MYSQL__URL", "mysql://hook:mysql-secret@127.0.0.1:33o6/my-db", "port that is not"),
    ],
)
def test_given_an_unparsable_uri_then_one_line_and_no_traceback(
    env: str,
    cloudtuner: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    says: str,
) -> None:
    org, _, _ = cloudtuner
    monkeypatch.setenv(f"KUBECOST_PIPELINE__{variable}", value)

    code = main(["project", "--cluster-account", f"prod-eu={org.account_ids[0]}"])

    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert says in err and "secret" not in err and "Traceback" not in err
