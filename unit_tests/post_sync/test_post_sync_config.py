"""Configuration: one typed object from file < environment < flags, validated up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubecost_pipeline.post_sync import ConfigError, StoreError, load_config
from kubecost_pipeline.urls import redact

ACCOUNT = "6f1d6b0e-5a57-4a55-9b5f-2f0c3c1f4e11"
OTHER = "0b9f3a57-2c41-4d0e-8d38-5d1b8f6a7c22"
VALID = {
    "marts_url": "chdb:///var/lib/kubecost/chdb",
    "mongodb_uri": "mongodb://hook:mongo-pw@mongo:27017",
    "mysql_url": "mysql://hook:mysql-pw@mysql:3306/my-db",
    "cluster_accounts": {"prod-eu": ACCOUNT},
}


def test_given_file_env_and_flags_then_flags_win_over_env_over_file(tmp_path: Path) -> None:
    path = tmp_path / "hook.secrets.toml"
    path.write_text(
        '[clickhouse]\nurl = "chdb:///from/file"\ndatabase = "file_marts"\n'
        '[mongodb]\nuri = "mongodb://file"\n[mysql]\nurl = "mysql://root@db/my-db"\n'
        '[cloudtuner]\nexpense_levels = ["namespace"]\n'
        f'[cloudtuner.cluster_accounts]\n"a" = "{ACCOUNT}"\n'
    )
    env = {
        "KUBECOST_PIPELINE__CLICKHOUSE__DATABASE": "env_marts",
        "KUBECOST_PIPELINE__EXPENSES__CLICKHOUSE_URL": "http://u:ch-pw@ch:8123",
        "KUBECOST_PIPELINE__CLOUDTUNER__CLUSTER_ACCOUNTS": f"b={OTHER}, c={ACCOUNT}",
    }
    config = load_config(path, env, {"marts_database": "flag_marts", "mongodb_uri": None})

    assert config.marts_url == "chdb:///from/file"
    assert config.marts_database == "flag_marts"
    assert config.mongodb_uri == "mongodb://file"
    assert config.expenses_clickhouse_url == "http://u:ch-pw@ch:8123"
    assert dict(config.cluster_accounts) == {"b": OTHER, "c": ACCOUNT}
    assert config.expense_levels == ("namespace",)


def test_given_defaults_then_pods_carry_expenses_and_expenses_share_the_marts_server() -> None:
    config = load_config(environ={}, overrides=VALID)

    assert config.expense_levels == ("pod",)
    assert config.expenses_clickhouse_url == VALID["marts_url"]
    assert (config.marts_database, config.mongodb_database, config.expenses_database) == (
        "kubecost_marts",
        "restapi",
        "default",
    )


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"marts_url": "clickhouse://x"}, "must start with chdb:// or http:// or https://"),
        ({"mysql_url": ""}, "mysql_url is not set; set KUBECOST_PIPELINE__MYSQL__URL"),
        ({"cluster_accounts": {}}, "no cluster is mapped"),
        ({"cluster_accounts": {"prod": "prod-account"}}, "maps to `prod-account`, which is not"),
        ({"cluster_accounts": {"a": ACCOUNT, "b": ACCOUNT}}, "both map to cloud account"),
        ({"expense_levels": ["pods"]}, "has unknown ['pods']"),
        ({"expense_levels": ["pod", "namespace"]}, "would count the same money twice"),
        ({"pool_id": ACCOUNT}, "pool_id and employee_id are set together"),
        ({"batch_size": "many"}, "`many` is not a int"),
        ({"cluster_accounts": ["prod"]}, "`prod` must look like CLUSTER=CLOUD_ACCOUNT_ID"),
    ],
)
def test_given_a_bad_value_then_the_error_names_it_and_the_fix(
    override: dict, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(environ={}, overrides={**VALID, **override})

    assert expected in str(error.value)


def test_given_several_problems_then_all_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(environ={}, overrides={"marts_url": "ftp://x"})

    assert len(error.value.problems) == 4  # marts_url, mongodb_uri, mysql_url, mapping


def test_secrets_are_masked_in_repr_and_describe() -> None:
    config = load_config(environ={}, overrides={**VALID, "expenses_url": "https://u:ch-pw@ch:8443"})

    text = repr(config) + str(config.describe())
    for secret in ("mongo-pw", "mysql-pw", "ch-pw"):
        assert secret not in text
    assert "mysql://hook:***@mysql:3306/my-db" in text
    assert redact("chdb:///abs/dir") == "chdb:///abs/dir"


def test_given_an_unreadable_file_then_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[clickhouse\n")

    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_config(path, environ={})


def test_example_config_loads() -> None:
    example = Path(__file__).parents[2] / "kubecost_pipeline/post_sync/example.secrets.toml"

    config = load_config(example, environ={})

    assert config.expense_levels == ("pod",) and config.cluster_accounts


def test_store_errors_mask_credentials_a_driver_echoes() -> None:
    error = StoreError("MySQL", ConnectionError("cannot reach mysql://hook:pw-123@db:3306/my-db"))

    assert "pw-123" not in str(error) and "mysql://hook:***@db:3306/my-db" in str(error)
