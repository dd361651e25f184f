"""The docs stay true: every option documented, every documented command valid, every
relative link alive."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest
import yaml

from kubecost_pipeline.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_connector_setting_is_in_the_configuration_reference():
    spec = yaml.safe_load((ROOT / "source_kubecost" / "spec.yaml").read_text())
    missing = [
        key
        for key in spec["connectionSpecification"]["properties"]
        if f"`{key}`" not in CONFIGURATION
    ]
    assert missing == []


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_every_flag_of_every_command_is_in_the_configuration_reference(command):
    flags = [
        flag
        for action in subcommands()[command]._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    ]
    missing = [flag for flag in flags if f"`{flag}`" not in CONFIGURATION]
    assert missing == [], f"{command}: {missing}"


SHELL = {"", "sh", "bash", "console", "shell"}


def shell_blocks(text: str) -> list[str]:
    """The fenced blocks of a Markdown text whose language is a shell (or unset)."""
    blocks, language, lines = [], None, []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if language is None:
                language, lines = line.strip().removeprefix("```"), []
            else:
                if language in SHELL:
                    blocks.append("\n".join(lines))
                language = None
        elif language is not None:
            lines.append(line)
    return blocks


def documented_commands() -> list[tuple[str, str]]:
    """`kubecost-pipeline ...` lines of the shell blocks of README.md and docs/."""
    found = []
    for path in DOCS:
        for block in shell_blocks(path.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                if "kubecost-pipeline " not in line:
                    continue
                words = shlex.split(line.removeprefix("$ ").split(" &")[0], comments=True)
                for i, word in enumerate(words):
                    if word.endswith("kubecost-pipeline") and i + 1 < len(words):
                        found.append((path.name, shlex.join(words[i + 1 :])))
    return found


def test_the_docs_show_commands():
    assert len(documented_commands()) >= 5


@pytest.mark.parametrize("where, command", documented_commands())
def test_every_documented_command_parses(where, command):
    build_parser().parse_args(shlex.split(command))


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    dead = [
        link for link in links if "://" not in link and not (path.parent / link).resolve().exists()
    ]
    assert dead == []


def test_ci_runs_exactly_the_test_command_of_the_readme():
    first_block = shell_blocks((ROOT / "README.md").read_text())[0].splitlines()
    readme_test = next(line.strip() for line in first_block if "test" in line)
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert [line for line in ci if line][-1] == readme_test == "make test"


def test_bench_results_name_no_path_of_the_machine_they_ran_on():
    text = (ROOT / "bench" / "results.md").read_text()
    absolute = re.findall(r"(?<![\w.~$/])/(?:work|tmp|root|home|Users|var|private|opt|mnt)/", text)
    assert absolute == []
    assert str(ROOT) not in text and str(Path.home()) not in text


def test_the_bench_runner_writes_paths_as_a_reader_would():
    import importlib.util
    import tempfile

    spec = importlib.util.spec_from_file_location("bench_runner", ROOT / "bench" / "__main__.py")
    assert spec is not None and spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    text = f"`{ROOT}/bench/bench_x.py` wrote {tempfile.gettempdir()}/b1 and {Path.home()}/.cache"
    assert runner.without_local_paths(text) == "`./bench/bench_x.py` wrote $TMPDIR/b1 and ~/.cache"
