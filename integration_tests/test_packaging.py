"""The wheel is the pipeline: installed outside the checkout, it syncs, builds the marts from
the dbt project it carries, and writes nothing into the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # two wheel builds, a venv, a demo run: `make test` only

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"
# dbt_project.yml keys naming the folders dbt reads, with dbt's defaults.
DBT_PATHS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "test-paths": ["tests"],
    "seed-paths": ["seeds"],
    "analysis-paths": ["analyses"],
    "snapshot-paths": ["snapshots"],
}


def dbt_project_files() -> set[str]:
    """What dbt reads of dbt_k8s_costs: its two YAML files and the tracked files of its paths."""
    project = yaml.safe_load((ROOT / "dbt_k8s_costs" / "dbt_project.yml").read_text())
    folders = [f for key, default in DBT_PATHS.items() for f in project.get(key, default)]
    tracked = subprocess.run(
        ["git", "ls-files", "--", *(f"dbt_k8s_costs/{f}" for f in folders)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {"dbt_k8s_costs/dbt_project.yml", "dbt_k8s_costs/profiles.yml", *tracked}


def run(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_given_the_wheels_installed_outside_the_checkout_when_the_demo_runs_then_marts_are_built(
    tmp_path: Path,
):
    dist = tmp_path / "dist"
    for project in (ROOT, ROOT / "tools" / "dbt-chdb"):  # sdist, then the wheel from it
        run(UV, "build", "--quiet", "--out-dir", dist, project)
    wheel = next(dist.glob("airbyte_source_kubecost-*.whl"))
    carried = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("dbt_k8s_costs/")}
    assert carried == dbt_project_files()

    # Our code from the wheels only; third-party packages from the checkout's pinned venv, as
    # a plain path after the new venv's own (its editable installs are not activated).
    venv = tmp_path / "venv"
    run(UV, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(UV, "pip", "install", "--quiet", "--no-deps", "--python", python, *dist.glob("*.whl"))
    site = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    (site / "pinned_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = sorted(p.relative_to(site) for p in (site / "dbt_k8s_costs").rglob("*"))

    elsewhere = tmp_path / "elsewhere"  # not the checkout: nothing found beside the source
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "PYTHON"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    where = run(
        python,
        "-c",
        "import kubecost_pipeline, source_kubecost, dbt.adapters.chdb as chdb;"
        "from kubecost_pipeline.transform import DEFAULT_PROJECT_DIR as dbt_project;"
        "print(kubecost_pipeline.__file__, source_kubecost.__file__, chdb.__file__, dbt_project)",
        cwd=elsewhere,
        env=env,
    ).stdout.split()
    assert all(path.startswith(str(site)) for path in where), where

    done = run(
        venv / "bin" / "kubecost-pipeline",
        "demo",
        "--days",
        "1",
        "--clusters",
        "1",
        "--workdir",
        tmp_path / "demo",
        "--quiet",
        cwd=elsewhere,
        env=env,
        timeout=600,
    )
    assert "Reconciliation: PASS" in done.stdout
    assert sorted(p.relative_to(site) for p in (site / "dbt_k8s_costs").rglob("*")) == installed
    assert list(elsewhere.iterdir()) == []
