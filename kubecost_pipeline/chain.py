"""The whole chain as a library: sync -> dbt build -> CloudTuner projection.

`run_chain` drives the three rooms in one process, so an embedded ClickHouse (chDB, one process
per directory) is shared by all three. It stops at the first failing step and never
projects marts whose `dbt build` failed.

One TOML file configures the chain (see docs/configuration.md)::

    [source]        # the connector's config, the same keys as the Airbyte form
    [clickhouse]    # url (shared by every step); database = the marts database;
                    # cluster = a ClickHouse cluster (ON CLUSTER DDL, Replicated engines)
    [landing]       # database = the landing database (Airbyte's destination database)
    [dbt]           # schema (models land in <schema>_staging / <schema>_marts), target
    [mongodb] [mysql] [expenses] [cloudtuner]   # the hook's sections (docs/cloudtuner-hook.md)

Every key can also come from `KUBECOST_PIPELINE__<SECTION>__<KEY>`; `[source]` values from
the environment are parsed as JSON when they parse, so nested settings such as
`credentials` fit in one variable. Unknown sections and keys are refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubecost_pipeline.config import SettingsError
from kubecost_pipeline.config import load as load_settings
from kubecost_pipeline.progress import Progress
from kubecost_pipeline.urls import redact

STEPS = ("sync", "dbt", "project")
DEFAULT_DBT_SCHEMA = "kubecost"


class ChainConfigError(Exception):
    """The pipeline config cannot be used; the message names the value and the fix."""


@dataclass(frozen=True)
class PipelineConfig:
    path: Path | None
    source: Mapping[str, Any] = field(repr=False)
    clickhouse_url: str = field(default="", repr=False)  # may hold a password
    clickhouse_cluster: str | None = None
    landing_database: str = "kubecost"
    dbt_schema: str = DEFAULT_DBT_SCHEMA
    dbt_target: str | None = None
    marts_database: str | None = None

    @property
    def marts(self) -> str:
        return self.marts_database or f"{self.dbt_schema}_marts"


def load_pipeline_config(
    path: str | Path | None, environ: Mapping[str, str] | None = None
) -> PipelineConfig:
    """Read the chain's settings from the TOML file (optional) and `KUBECOST_PIPELINE__*`
    variables (`kubecost_pipeline.config`); unknown sections and keys are errors."""
    from kubecost_pipeline.landing import DEFAULT_DATABASE, default_clickhouse_url

    try:
        settings = load_settings(path, environ)
    except SettingsError as exc:
        raise ChainConfigError(_one_message(exc.problems)) from exc
    source = {
        key: _json_or_text(s.value) if s.from_environment else s.value
        for key, s in settings.section("source")
    }

    def text(section: str, key: str) -> str | None:
        setting = settings.get(section, key)
        if setting is None:
            return None
        if not isinstance(setting.value, str):
            raise ChainConfigError(f"{setting.origin} must be a string, got {setting.value!r}.")
        return setting.value.strip() or None

    return PipelineConfig(
        path=settings.path,
        source=source,
        clickhouse_url=text("clickhouse", "url") or default_clickhouse_url(),
        clickhouse_cluster=text("clickhouse", "cluster"),
        landing_database=text("landing", "database") or DEFAULT_DATABASE,
        dbt_schema=text("dbt", "schema") or DEFAULT_DBT_SCHEMA,
        dbt_target=text("dbt", "target"),
        marts_database=text("clickhouse", "database"),
    )


def _json_or_text(value: str) -> Any:
    """An environment value: JSON when it parses (numbers, booleans, objects), else text."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _one_message(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems in the config:\n" + "\n".join(f"  - {p}" for p in problems)


class StepFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step} failed: {message}")
        self.step = step


def run_chain(
    config: PipelineConfig,
    skip: frozenset[str] = frozenset(),
    dry_run: bool = False,
    progress: Progress | None = None,
    hook_overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the steps not in `skip`, in order; raise StepFailed at the first failure.

    Returns what each step reported: the landing's SyncResult, dbt's BuildResult and the
    hook's ProjectionResult, keyed by step.
    """
    progress = progress or Progress.for_stream()
    outcome: dict[str, Any] = {}
    if "sync" not in skip:
        outcome["sync"] = _sync(config, progress)
    if "dbt" not in skip:
        outcome["dbt"] = _dbt(config, progress)
    if "project" not in skip:
        hook = hook_config(config, hook_overrides or {})
        outcome["project"] = project_step(hook, dry_run, progress)
    return outcome


def _sync(config: PipelineConfig, progress: Progress) -> Any:
    from kubecost_pipeline.landing import LandingError, sync

    if not config.source:
        raise StepFailed("sync", "the config has no [source] section: add the connector's config")
    progress.step(
        "sync",
        "reading Kubecost and landing records",
        clickhouse=redact(config.clickhouse_url),
        database=config.landing_database,
    )
    try:
        result = sync(
            config.source,
            config.clickhouse_url,
            config.landing_database,
            on_state=lambda s: progress.step(
                "sync", f"{s.stream}: state committed", state=s.state, rows=s.records
            ),
            cluster=config.clickhouse_cluster,
        )
    except LandingError as exc:
        raise StepFailed("sync", str(exc)) from exc
    for name, stream in result.streams.items():
        progress.step("sync", f"{name} landed", rows=stream.records)
    return result


def _dbt(config: PipelineConfig, progress: Progress) -> Any:
    from kubecost_pipeline.transform import TransformError, build

    progress.step("dbt", "dbt build of dbt_k8s_costs", schema=config.dbt_schema)
    try:
        result = build(
            config.clickhouse_url,
            target=config.dbt_target,
            schema=config.dbt_schema,
            vars={"kubecost_database": config.landing_database},
            on_node=lambda node, status: progress.step("dbt", f"{node} {status}"),
            cluster=config.clickhouse_cluster,
            # dbt's advice: unit tests check the SQL, not the data, and belong to CI
            # (`make test`, docs/dbt-ci.md); the daily run builds and runs the data tests.
            args=["--exclude-resource-type", "unit_test"],
        )
    except TransformError as exc:
        raise StepFailed("dbt", str(exc)) from exc
    if not result.success:
        raise StepFailed("dbt", result.report() + "\nThe CloudTuner projection was not run.")
    progress.step("dbt", "models built and tested", nodes=result.nodes, seconds=result.duration_s)
    return result


def hook_config(config: PipelineConfig, overrides: Mapping[str, Any]) -> Any:
    """The hook's config from the pipeline file, reading the marts this chain builds."""
    from kubecost_pipeline import post_sync

    try:
        return post_sync.load_config(
            config.path,
            overrides={
                "marts_url": config.clickhouse_url,
                "marts_database": config.marts,
                **overrides,
            },
        )
    except post_sync.PostSyncError as exc:
        raise StepFailed("project", str(exc)) from exc


def project_step(hook: Any, dry_run: bool, progress: Progress, **options: Any) -> Any:
    """Run the CloudTuner projection; `options` go to `post_sync.project` (stores, ...)."""
    from kubecost_pipeline import post_sync

    progress.step("project", "projecting the marts into CloudTuner", dry_run=dry_run)
    try:
        result = post_sync.project(hook, dry_run=dry_run, **options)
    except post_sync.PostSyncError as exc:
        raise StepFailed("project", str(exc)) from exc
    progress.step("project", result.summary().splitlines()[0])
    return result
