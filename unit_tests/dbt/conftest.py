"""Run dbt_k8s_costs in-process on the test process's chDB directory.

Every run gets its own target schema (its models land in `<schema>_staging`,
`<schema>_marts`) and its own target/log directories, so xdist workers never share
files; the landing database is passed as the `kubecost_database` var.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2] / "dbt_k8s_costs"
HARNESS = PROJECT / "integration_tests"


class DbtFailed(AssertionError):
    pass


def run_dbt(
    args: list[str],
    *,
    chdb_path: Path,
    schema: str,
    workdir: Path,
    project: Path = PROJECT,
    vars: Mapping[str, Any] | None = None,
) -> Any:
    """`dbt <args>` in this process through `transform.build`; returns dbt's node results
    and raises DbtFailed naming every failed node."""
    from kubecost_pipeline.transform import build

    command, *rest = args
    paths = ["--log-path", str(workdir / "logs")]
    if command != "deps":  # `dbt deps` takes no --target-path
        paths += ["--target-path", str(workdir / "target")]
    result = build(
        f"chdb://{chdb_path}",
        project,
        vars=vars,
        schema=schema,
        command=command,
        args=[*rest, *paths, "--no-use-colors"],
        install_deps=False,
    )
    if not result.success:
        raise DbtFailed(f"dbt {' '.join(args)} failed:\n{result.report()}")
    return result.results


@pytest.fixture(scope="session")
def harness_deps(chdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`dbt deps` of the harness once; a file lock keeps xdist workers from racing on it."""
    with (HARNESS / ".deps.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (HARNESS / "dbt_packages" / "dbt_k8s_costs").exists():
            workdir = tmp_path_factory.mktemp("deps")
            run_dbt(
                ["deps"], chdb_path=chdb_path, schema="default", workdir=workdir, project=HARNESS
            )


@pytest.fixture
def dbt(chdb_path: Path, ch_database: str, tmp_path: Path) -> Callable[..., Any]:
    """`dbt(args, project=..., vars=...)`: runs dbt with `ch_database` as target schema."""

    def invoke(args: list[str], **kwargs: Any) -> Any:
        return run_dbt(args, chdb_path=chdb_path, schema=ch_database, workdir=tmp_path, **kwargs)

    return invoke


@pytest.fixture
def harness() -> Path:
    """The harness project: seeds standing in for the landing tables, integrity tests."""
    return HARNESS


@pytest.fixture
def seeded_landing(dbt, ch_client, ch_database: str, harness_deps: None) -> Iterator[str]:
    """The harness seeds loaded into `<ch_database>_landing` (tables named `*_data`)."""
    landing = f"{ch_database}_landing"
    dbt(["seed"], project=HARNESS, vars={"kubecost_database": landing})
    yield landing
    for suffix in ("_landing", "_staging", "_marts", "_intermediate"):
        ch_client.command(f"DROP DATABASE IF EXISTS `{ch_database}{suffix}`")
