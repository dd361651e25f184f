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


# ---- mistakes are refused, with a hint (one loader for the chain and the hook) --------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[clickhous]\nurl = "chdb:///x"\n', r"\[clickhous\] in .* did you mean \[clickhouse\]\?"),
        (
            "[source]\nlookbak_days = 5\n",
            r"\[source\] lookbak_days .* did you mean `lookback_days`\?",
        ),
        ('[mysql]\nulr = "mysql://h/db"\n', r"\[mysql\] ulr .* did you mean `url`\?"),
        ("[clickhouse]\nlookback_days = 5\n", r"it belongs in \[source\]"),
        ('url = "chdb:///x"\n[source]\n', r"`url` .* is outside any section.*\[source\]"),
        ("[webhook]\nsecret = 'x'\n", r"\[webhook\] .* is not a section; the sections are"),
    ],
)
def test_given_a_misspelt_section_or_key_when_loaded_then_chain_and_hook_refuse_it(
    tmp_path: Path, text: str, expected: str
):
    from kubecost_pipeline import post_sync

    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    with pytest.raises(ChainConfigError, match=expected):
        load_pipeline_config(path, environ={})
    with pytest.raises(post_sync.ConfigError, match=expected):
        post_sync.load_config(path, environ={})


def test_given_a_misspelt_variable_when_loaded_then_refused_and_known_ones_pass():
    from kubecost_pipeline import post_sync

    environ = {
        "KUBECOST_PIPELINE__CLICKHOUSE__ULR": "chdb:///x",
        "KUBECOST_PIPELINE__WEBHOOK__SECRET": "s3cret",  # environment-only settings pass
        "KUBECOST_PIPELINE__DEMO__MYSQL_URL": "mysql://root@127.0.0.1:3306",
    }
    hint = r"KUBECOST_PIPELINE__CLICKHOUSE__ULR is not a setting; did you mean .*__URL\?"
    with pytest.raises(ChainConfigError, match=hint) as raised:
        load_pipeline_config(None, environ=environ)
    assert "s3cret" not in str(raised.value)
    with pytest.raises(post_sync.ConfigError, match=hint):
        post_sync.load_config(None, environ=environ)
    del environ["KUBECOST_PIPELINE__CLICKHOUSE__ULR"]
    assert load_pipeline_config(None, environ=environ).landing_database == "kubecost"


def test_given_every_section_in_the_environment_then_it_overrides_the_file(tmp_path: Path):
    path = tmp_path / "pipeline.toml"
    path.write_text(PIPELINE_TOML)
    config = load_pipeline_config(
        path,
        environ={
            "KUBECOST_PIPELINE__LANDING__DATABASE": "env_landing",
            "KUBECOST_PIPELINE__DBT__SCHEMA": "env",
            "KUBECOST_PIPELINE__DBT__TARGET": "clickhouse",
        },
    )
    assert (config.landing_database, config.marts, config.dbt_target) == (
        "env_landing",
        "env_marts",
        "clickhouse",
    )


def test_given_a_misspelt_key_when_run_or_project_then_exit_2_with_one_line(tmp_path: Path, capsys):
    path = tmp_path / "pipeline.toml"
    path.write_text('[source]\nurl = "http://kubecost:9090"\nlookbak_days = 5\n')
    for command in (["run", "--config", str(path), "--quiet"], ["project", "--config", str(path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "did you mean `lookback_days`?" in err
        assert "Traceback" not in err


def test_given_no_clickhouse_url_then_data_goes_to_the_user_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("KUBECOST_PIPELINE__CLICKHOUSE__URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # not where the data goes
    config = load_pipeline_config(None, environ={})
    assert config.clickhouse_url == f"chdb://{tmp_path / 'data' / 'kubecost-pipeline' / 'chdb'}"


def test_every_setting_of_the_loader_is_in_the_configuration_reference():
    from kubecost_pipeline.config import ENVIRONMENT_ONLY, SECTIONS, env_name

    reference = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    settings = {**SECTIONS, **ENVIRONMENT_ONLY}
    missing = [env_name(s, k) for s, keys in settings.items() for k in keys]
    assert [name for name in missing if f"`{name}`" not in reference] == []
