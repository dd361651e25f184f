"""The pipeline config: one TOML file, [source] overridable from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubecost_pipeline.chain import ChainConfigError, load_pipeline_config
from kubecost_pipeline.cli import main

PIPELINE_TOML = """
[source]
url = "http://kubecost.example:9090"
start_date = "2026-11-01"
[source.credentials]
auth_type = "bearer"
token = "pipeline config test token"

[clickhouse]
url = "chdb:///var/lib/kubecost/chdb"

[landing]
database = "kc_landing"

[dbt]
schema = "kc"
"""


def test_given_full_file_when_loaded_then_every_section_is_read(tmp_path: Path):
    path = tmp_path / "pipeline.toml"
    path.write_text(PIPELINE_TOML)
    config = load_pipeline_config(path, environ={})
    assert config.source["credentials"] == {
        "auth_type": "bearer",
        "token": "pipeline config test token",
    }
    assert config.clickhouse_url == "chdb:///var/lib/kubecost/chdb"
    assert config.landing_database == "kc_landing"
    assert config.marts == "kc_marts"  # dbt puts marts in <schema>_marts
    assert "pipeline config test token" not in repr(config)


def test_given_environment_when_loaded_then_it_overrides_the_file(tmp_path: Path):
    path = tmp_path / "pipeline.toml"
    path.write_text(PIPELINE_TOML)
    config = load_pipeline_config(
        path,
        environ={
            "KUBECOST_PIPELINE__SOURCE__LOOKBACK_DAYS": "5",
            "KUBECOST_PIPELINE__SOURCE__CREDENTIALS": '{"auth_type": "none"}',
            "KUBECOST_PIPELINE__SOURCE__URL": "http://other:9090",
            "KUBECOST_PIPELINE__CLICKHOUSE__URL": "http://default:@ch:8123",
        },
    )
    assert config.source["lookback_days"] == 5
    assert config.source["credentials"] == {"auth_type": "none"}
    assert config.source["url"] == "http://other:9090"
    assert config.clickhouse_url == "http://default:@ch:8123"


def test_given_no_file_when_loaded_then_embedded_defaults():
    config = load_pipeline_config(None, environ={})
    assert config.clickhouse_url.startswith("chdb:///")
    assert config.landing_database == "kubecost"
    assert config.marts == "kubecost_marts"


def test_given_broken_toml_when_loaded_then_error_names_the_file(tmp_path: Path):
    path = tmp_path / "pipeline.toml"
    path.write_text("[source\nurl = 1")
    with pytest.raises(ChainConfigError, match=r"pipeline\.toml"):
        load_pipeline_config(path, environ={})


def test_given_no_source_when_run_then_exit_1_says_what_to_add(tmp_path: Path, capsys):
    path = tmp_path / "pipeline.toml"
    path.write_text('[clickhouse]\nurl = "chdb:///nowhere"\n')
    assert main(["run", "--config", str(path), "--quiet"]) == 1
    assert "[source]" in capsys.readouterr().err


def test_given_the_shipped_example_when_loaded_then_chain_and_hook_accept_it():
    from kubecost_pipeline import post_sync

    example = Path(__file__).resolve().parents[2] / "pipeline.example.toml"
    config = load_pipeline_config(example, environ={})
    assert config.source["url"].startswith("http")
    assert config.marts == "kubecost_marts"
    hook = post_sync.load_config(example, environ={})
    assert hook.expense_levels == ("pod",)
    assert dict(hook.cluster_accounts) == {"prod-eu": "00000000-0000-4000-8000-000000000000"}
