"""dbt_k8s_costs/profiles.yml, rendered by dbt's own profile code for every documented
setting: the `clickhouse` target loads, with the port following the scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubecost_pipeline.transform import DEFAULT_PROJECT_DIR, connection_env


def fields(credentials: Any) -> dict[str, Any]:
    names = ("host", "port", "secure", "user", "password", "schema", "cluster", "database_engine")
    return {name: getattr(credentials, name) for name in names}


DEFAULTS = {
    "host": "localhost",
    "port": 8123,
    "secure": False,
    "user": "default",
    "password": "",
    "schema": "kubecost",
    "cluster": "",
    "database_engine": "",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        ({"DBT_CLICKHOUSE_SECURE": "false"}, {}),
        ({"DBT_CLICKHOUSE_SECURE": ""}, {}),
        ({"DBT_CLICKHOUSE_SECURE": "true"}, {"secure": True, "port": 8443}),
        ({"DBT_CLICKHOUSE_SECURE": "TRUE"}, {"secure": True, "port": 8443}),
        (
            {"DBT_CLICKHOUSE_SECURE": "true", "DBT_CLICKHOUSE_PORT": "9440"},
            {"secure": True, "port": 9440},
        ),
        ({"DBT_CLICKHOUSE_PORT": "18123"}, {"port": 18123}),
        (
            {
                "DBT_CLICKHOUSE_HOST": "ch.internal",
                "DBT_CLICKHOUSE_USER": "dbt",
                "DBT_ENV_SECRET_CLICKHOUSE_PASSWORD": "pa ss@word",
                "DBT_CLICKHOUSE_DATABASE": "k8s",
            },
            {"host": "ch.internal", "user": "dbt", "password": "pa ss@word", "schema": "k8s"},
        ),
        ({"DBT_CLICKHOUSE_CLUSTER": "prod"}, {"cluster": "prod"}),
        ({"DBT_CLICKHOUSE_DATABASE_ENGINE": "Replicated"}, {"database_engine": "Replicated"}),
    ],
    ids=[
        "defaults", "secure-false", "secure-empty", "secure-true", "secure-upper",
        "secure-own-port", "own-port", "credentials-from-env", "cluster", "database-engine",
    ],
)  # fmt: skip
def test_given_documented_settings_when_dbt_renders_the_clickhouse_target_then_credentials_follow(
    render_dbt_profile: Any, env: dict[str, str], expected: dict[str, Any]
) -> None:
    credentials = render_dbt_profile(env, "clickhouse")

    assert type(credentials).__name__ == "ClickHouseCredentials"
    assert fields(credentials) == DEFAULTS | expected


@pytest.mark.parametrize("value", ["yes", "1", "on"])
def test_given_a_secure_value_other_than_true_or_false_then_dbt_refuses_it(
    render_dbt_profile: Any, value: str
) -> None:
    from dbt.exceptions import DbtProfileError

    with pytest.raises(DbtProfileError, match="into type 'bool'"):
        render_dbt_profile({"DBT_CLICKHOUSE_SECURE": value}, "clickhouse")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://ch.example", {"host": "ch.example"}),
        ("https://ch.example", {"host": "ch.example", "secure": True, "port": 8443}),
        (
            "https://ch.example:443/analytics",
            {"host": "ch.example", "secure": True, "port": 443, "schema": "analytics"},
        ),
        (
            "http://dbt:p%40ss%2Fword@127.0.0.1:18123/k8s",
            {"host": "127.0.0.1", "port": 18123, "user": "dbt", "password": "p@ss/word"}
            | {"schema": "k8s"},
        ),
    ],
)  # fmt: skip
def test_given_a_clickhouse_url_when_transform_sets_the_environment_then_dbt_renders_it(
    render_dbt_profile: Any, url: str, expected: dict[str, Any]
) -> None:
    target, env = connection_env(url)

    credentials = render_dbt_profile({**env, "DBT_TARGET": target})

    assert fields(credentials) == DEFAULTS | expected


def test_given_a_chdb_url_then_the_embedded_target_renders(
    render_dbt_profile: Any, tmp_path: Path
) -> None:
    target, env = connection_env(f"chdb://{tmp_path}", schema="s1")

    credentials = render_dbt_profile(env, target)

    assert type(credentials).__name__ == "ChdbCredentials"
    assert (credentials.chdb_path, credentials.schema) == (str(tmp_path), "s1")


def test_given_the_projects_then_dbt_reads_usage_tracking_off_from_their_flags() -> None:
    from dbt.config.project import read_project_flags

    for project in (DEFAULT_PROJECT_DIR, DEFAULT_PROJECT_DIR / "integration_tests"):
        flags = read_project_flags(str(project), str(DEFAULT_PROJECT_DIR))
        assert flags.send_anonymous_usage_stats is False, project
