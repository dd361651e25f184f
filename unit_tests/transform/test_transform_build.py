"""`transform.build` and the `type: chdb` adapter, on a throwaway dbt project in chDB.

The project (a seed, a view, a table with tests, an insert_overwrite incremental model) is
written by the test and built twice in this process's chDB directory, as dbt-clickhouse's
own `TestInsertOverwriteIncremental` does: run, assert exact rows, change input, run again.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from kubecost_pipeline.transform import NodeFailure, TransformError, build, connection_env

pytestmark = pytest.mark.slow  # dbt builds, real processes: `make test` only

PROJECT = {
    "dbt_project.yml": 'name: tiny\nversion: "1.0"\nconfig-version: 2\nprofile: tiny\n',
    "models/costs_view.sql": (
        "select toDate(day) as day, namespace, toDecimal64(cost, 9) as cost from {{ ref('costs') }}"
    ),
    "models/costs_by_day.sql": (
        "{{ config(materialized='table', order_by='day') }}\n"
        "select day, sum(cost) as cost from {{ ref('costs_view') }} group by day"
    ),
    "models/costs_incremental.sql": (
        "{{ config(materialized='incremental', incremental_strategy='insert_overwrite',"
        " partition_by='day', order_by='(day, namespace)') }}\n"
        "select day, namespace, cost from {{ ref('costs_view') }}\n"
        "{% if is_incremental() %} where day >= '2026-01-02' {% endif %}"
    ),
    "models/_models.yml": (
        "version: 2\nmodels:\n  - name: costs_by_day\n    columns:\n"
        "      - name: day\n        data_tests: [unique, not_null]\n"
    ),
}
SEED = "day,namespace,cost\n2026-01-01,a,1.5\n2026-01-01,b,2.5\n2026-01-02,a,{cost}\n"


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    for name, text in PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds/costs.csv").write_text(SEED.format(cost=3))
    return tmp_path


def _rows(ch_client, database: str, table: str) -> list[tuple]:
    return ch_client.query(
        "SELECT * FROM {db:Identifier}.{t:Identifier} ORDER BY ALL",
        parameters={"db": database, "t": table},
    ).result_rows


def test_given_tiny_project_when_built_twice_then_insert_overwrite_replaces_only_new_days(
    tiny_project, chdb_url, ch_client, ch_database
):
    first = build(chdb_url, tiny_project, schema=ch_database)
    assert first.success, first.report()
    assert first.nodes == 6  # seed, 3 models, 2 tests
    assert _rows(ch_client, ch_database, "costs_by_day")[-1][1] == Decimal("3")

    # Both days change in the seed; the incremental run rewrites only 2026-01-02.
    seed = SEED.format(cost=7).replace("1.5", "9.5")
    (tiny_project / "seeds/costs.csv").write_text(seed)
    second = build(chdb_url, tiny_project, schema=ch_database)

    assert second.success, second.report()
    assert _rows(ch_client, ch_database, "costs_incremental") == [
        (dt.date(2026, 1, 1), "a", Decimal("1.5")),
        (dt.date(2026, 1, 1), "b", Decimal("2.5")),
        (dt.date(2026, 1, 2), "a", Decimal("7")),
    ]


def test_given_a_broken_model_when_built_then_failure_names_the_node_and_dependants_skip(
    tiny_project, chdb_url, ch_database
):
    (tiny_project / "models/costs_view.sql").write_text("select no_such_column from numbers(1)")

    result = build(chdb_url, tiny_project, schema=ch_database)

    assert not result.success
    failed = {f.node: f.status for f in result.failures}
    assert failed == {"model.tiny.costs_view": "error"}
    assert "no_such_column" in result.failures[0].message
    assert {node.split(".")[2] for node in result.skipped} == {
        "costs_by_day",
        "costs_incremental",
        "not_null_costs_by_day_day",
        "unique_costs_by_day_day",
    }
    assert "skipped: " in result.report()
    assert "model.tiny.costs_view" in result.report()


def test_given_a_failing_data_test_when_built_then_the_test_is_reported(
    tiny_project, chdb_url, ch_database
):
    (tiny_project / "tests").mkdir()
    (tiny_project / "tests/no_day_over_3.sql").write_text(
        "select * from {{ ref('costs_by_day') }} where cost > 3"
    )

    result = build(chdb_url, tiny_project, schema=ch_database)

    assert not result.success
    assert result.failures == [
        NodeFailure("test.tiny.no_day_over_3", "fail", "Got 1 result, configured to fail if != 0")
    ]


def test_given_https_url_then_server_target_env_carries_credentials():
    target, env = connection_env("https://analyst:s%40cret@ch.example:9443/k8s", cluster="c1")

    assert target == "clickhouse"
    assert env == {
        "DBT_CLICKHOUSE_HOST": "ch.example",
        "DBT_CLICKHOUSE_PORT": "9443",
        "DBT_CLICKHOUSE_SECURE": "true",
        "DBT_CLICKHOUSE_USER": "analyst",
        "DBT_ENV_SECRET_CLICKHOUSE_PASSWORD": "s@cret",
        "DBT_CLICKHOUSE_DATABASE": "k8s",
        "DBT_CLICKHOUSE_CLUSTER": "c1",
    }


def test_given_a_cluster_with_an_embedded_url_then_a_clear_error():
    with pytest.raises(TransformError, match="needs a server URL"):
        connection_env("chdb:///tmp/x", cluster="c1")


def test_given_unknown_scheme_or_missing_project_then_clear_errors(tmp_path):
    with pytest.raises(TransformError, match="postgres"):
        connection_env("postgres://x")
    with pytest.raises(TransformError, match="postgres"):
        build("postgres://x")
    with pytest.raises(TransformError, match=r"dbt_project\.yml"):
        build("chdb:///tmp/x", tmp_path)
