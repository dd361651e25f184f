"""Run `dbt build` of dbt_k8s_costs against the ClickHouse the landing wrote.

dbt runs in this process (`dbt.cli.main.dbtRunner`): chDB lets one process open a
directory, so a `sync` followed by `build` in one process shares the engine, and a
separate process must wait until the sync has exited.

    from kubecost_pipeline.transform import build
    result = build("chdb:///tmp/ch", vars={"kubecost_database": "kubecost"})
    if not result.success: print(result.report())
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubecost_pipeline.clickhouse import ClickHouseUnavailable, ClickHouseURL, connect
from kubecost_pipeline.urls import redact_text


def installed_project_dir() -> Path:
    """dbt_k8s_costs as installed with this package: package data of the wheel, or the
    checkout in an editable install (pyproject.toml ships it as the package `dbt_k8s_costs`)."""
    spec = importlib.util.find_spec("dbt_k8s_costs")
    for location in (spec.submodule_search_locations if spec else None) or ():
        if (Path(location) / "dbt_project.yml").exists():
            return Path(location)
    return Path("dbt_k8s_costs")  # not installed: build() says to pass --project-dir


DEFAULT_PROJECT_DIR = installed_project_dir()
FAILED = ("error", "fail", "runtime error")
# dbt scrubs the values of DBT_ENV_SECRET_* variables from its logs and artifacts.
PASSWORD_ENV = "DBT_ENV_SECRET_CLICKHOUSE_PASSWORD"


class TransformError(Exception):
    """The dbt run cannot start (bad URL or project); the message says how to fix it."""


@dataclass(frozen=True)
class NodeFailure:
    node: str  # unique id, e.g. model.dbt_k8s_costs.k8s_costs_daily
    status: str
    message: str


@dataclass
class BuildResult:
    """The outcome of one dbt invocation."""

    success: bool
    nodes: int = 0
    failures: list[NodeFailure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # nodes not run because of a failure
    duration_s: float = 0.0
    results: list[Any] = field(default_factory=list, repr=False)  # dbt's node results

    def report(self) -> str:
        """One line per failed node, or a one-line success summary."""
        if self.success:
            return f"dbt: {self.nodes} nodes OK in {self.duration_s:.1f} s"
        return "\n".join(
            [f"dbt failed ({len(self.failures)} of {self.nodes} nodes):"]
            + [f"  {f.status}: {f.node}: {f.message}" for f in self.failures]
            + ([f"  skipped: {', '.join(self.skipped)}"] if self.skipped else [])
        )


def connection_env(
    clickhouse_url: str | ClickHouseURL, schema: str | None = None, cluster: str | None = None
) -> tuple[str, dict[str, str]]:
    """The profile target and the environment variables it reads, for a ClickHouse URL.

    The password travels only in `DBT_ENV_SECRET_CLICKHOUSE_PASSWORD`, never in an argument.
    """
    url = clickhouse_url
    if isinstance(url, str):
        try:
            url = ClickHouseURL.parse(url)
        except ClickHouseUnavailable as error:
            raise TransformError(str(error)) from None
    if url.scheme == "chdb":
        if cluster:
            raise TransformError(
                f"A ClickHouse cluster ({cluster!r}) needs a server URL, not {url}: use "
                "http(s)://user:password@host:port, or leave the cluster out."
            )
        return "embedded", {"DBT_CHDB_PATH": url.path} | ({"DBT_SCHEMA": schema} if schema else {})
    env = {
        "DBT_CLICKHOUSE_HOST": url.host,
        "DBT_CLICKHOUSE_PORT": str(url.port),
        "DBT_CLICKHOUSE_SECURE": str(url.secure).lower(),
        "DBT_CLICKHOUSE_USER": url.user,
        PASSWORD_ENV: url.password,
    }
    if database := schema or url.database:
        env["DBT_CLICKHOUSE_DATABASE"] = database
    if cluster:
        env["DBT_CLICKHOUSE_CLUSTER"] = cluster
    return "clickhouse", env


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _profiles_dir(project_dir: Path) -> Iterator[Path]:
    """The project's own profiles.yml, else a temporary one with dbt_k8s_costs's targets
    under the project's profile name."""
    if (project_dir / "profiles.yml").exists():
        yield project_dir
        return
    found = re.search(
        r"^profile:\s*[\"']?([\w-]+)", (project_dir / "dbt_project.yml").read_text(), re.M
    )
    if not found:
        raise TransformError(f"{project_dir}/dbt_project.yml names no `profile:`; add one.")
    (standard,) = yaml.safe_load((DEFAULT_PROJECT_DIR / "profiles.yml").read_text()).values()
    with tempfile.TemporaryDirectory(prefix="kubecost-dbt-") as tmp:
        profile = {found[1]: {**standard, "target": "embedded"}}
        (Path(tmp) / "profiles.yml").write_text(yaml.safe_dump(profile))
        yield Path(tmp)


@contextlib.contextmanager
def _argv_redacted() -> Iterator[None]:
    """dbt records `sys.argv` as its `invocation_command` (dbt.log, run_results.json): let it
    see this process's command line without the password of a `--clickhouse-url`."""
    saved = sys.argv
    sys.argv = [redact_text(arg) for arg in saved]
    try:
        yield
    finally:
        sys.argv = saved


def build(
    clickhouse_url: str | None = None,
    project_dir: str | Path = DEFAULT_PROJECT_DIR,
    target: str | None = None,
    vars: Mapping[str, Any] | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    schema: str | None = None,
    full_refresh: bool = False,
    command: str = "build",
    on_node: Callable[[str, str], None] | None = None,
    cluster: str | None = None,
    args: Sequence[str] = (),
    install_deps: bool = True,
) -> BuildResult:
    """Run `dbt <command>` (default `build`) of a project against one ClickHouse.

    Args:
        clickhouse_url: as for the landing; default `landing.default_clickhouse_url()`.
        project_dir: the dbt project (default dbt_k8s_costs/ of this repository).
        target: profile target; default `embedded` for chdb://, `clickhouse` for http(s)://.
        vars: dbt vars, e.g. {"kubecost_database": "kubecost"} for the landing database.
        select, exclude: dbt node selection.
        schema: the target schema (a ClickHouse database prefix); default the profile's.
        full_refresh: rebuild incremental models from scratch.
        command: dbt command (build, run, test, seed, ...).
        on_node: called with (node name, status) as each model, seed or test finishes;
            when given, dbt's own log lines are silenced (`--quiet`) except errors.
        cluster: a ClickHouse cluster (the profile's `cluster`: ON CLUSTER DDL, Replicated
            engines); default `$KUBECOST_PIPELINE__CLICKHOUSE__CLUSTER`.
        args: more dbt arguments, as on its command line.
        install_deps: run `dbt deps` first when the project has packages.

    Returns:
        A BuildResult; `success` is False, with every failing node named, when any node
        errors or fails. Raises TransformError when dbt cannot start at all, e.g. when
        ClickHouse cannot be reached (one line: what failed and what to do).
    """
    from kubecost_pipeline.landing.settings import default_clickhouse_url, default_cluster

    project = Path(project_dir).resolve()
    if not (project / "dbt_project.yml").exists():
        raise TransformError(
            f"{project} has no dbt_project.yml; pass --project-dir pointing at dbt_k8s_costs/."
        )
    try:
        url = ClickHouseURL.parse(clickhouse_url or default_clickhouse_url())
        inferred, env = connection_env(url, schema, cluster or default_cluster())
        connect(url).close()  # one clear line now, rather than a failure in every model
    except ClickHouseUnavailable as error:
        raise TransformError(str(error)) from None
    from dbt.cli.main import dbtRunner  # seconds to import: only once ClickHouse answered

    started = time.monotonic()
    with (
        _environ(env | _dbt_defaults(project)),
        _argv_redacted(),
        _profiles_dir(project) as profiles,
    ):
        common = ["--project-dir", str(project), "--profiles-dir", str(profiles)]
        runner = dbtRunner(callbacks=[_node_callback(on_node)] if on_node else None)
        packages = any((project / name).exists() for name in ("packages.yml", "dependencies.yml"))
        if packages and install_deps:
            deps = runner.invoke(["deps", *common])
            if not deps.success:
                return BuildResult(
                    False, 0, [NodeFailure("dbt deps", "error", str(deps.exception))]
                )
        invocation = [command, *common, "--target", target or inferred, *args]
        if on_node:
            invocation.append("--quiet")
        if vars:
            invocation += ["--vars", json.dumps(dict(vars))]
        invocation += [arg for s in select for arg in ("--select", s)]
        invocation += [arg for s in exclude for arg in ("--exclude", s)]
        if full_refresh:
            invocation.append("--full-refresh")
        outcome = runner.invoke(invocation)
    return _result(outcome, time.monotonic() - started)


def _dbt_defaults(project: Path) -> dict[str, str]:
    """dbt's settings unless the caller chose them. dbt writes target/, logs/ and .user.yml
    beside the project by default, i.e. inside the installed package: they go to the user's
    data directory. Colour codes only on a terminal; no anonymous usage stats."""
    from kubecost_pipeline.config import data_dir

    base = data_dir() / "dbt" / project.name
    defaults = {
        "DBT_TARGET_PATH": str(base / "target"),
        "DBT_LOG_PATH": str(base / "logs"),
        "DBT_USE_COLORS": str(sys.stdout.isatty()).lower(),
        "DBT_USE_COLORS_FILE": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return {name: os.environ.get(name) or value for name, value in defaults.items()}


NODE_RESULT_EVENTS = ("LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult")


def _node_callback(on_node: Callable[[str, str], None]) -> Callable[[Any], None]:
    def callback(event: Any) -> None:
        if event.info.name in NODE_RESULT_EVENTS:
            on_node(event.data.node_info.node_name, str(event.data.status))

    return callback


def _result(outcome: Any, duration_s: float) -> BuildResult:
    nodes = list(getattr(outcome.result, "results", None) or [])
    failures = [
        NodeFailure(r.node.unique_id, str(r.status), str(r.message or ""))
        for r in nodes
        if str(r.status) in FAILED
    ]
    if outcome.exception is not None:
        failures.append(NodeFailure("dbt", "error", str(outcome.exception)))
    success = bool(outcome.success) and not failures
    if not success and not failures:
        failures.append(NodeFailure("dbt", "error", "dbt reported failure; see its log above"))
    skipped = [r.node.unique_id for r in nodes if str(r.status) == "skipped"]
    return BuildResult(success, len(nodes), failures, skipped, duration_s, nodes)
