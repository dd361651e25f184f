"""The one loader of the pipeline's settings: a TOML file, then `KUBECOST_PIPELINE__*` variables.

Every command that reads a config file (`run`, `webhook`, `project`) goes through `load()`.
A setting is ``[section] key`` in the file or ``KUBECOST_PIPELINE__<SECTION>__<KEY>`` in the
environment (which wins). Sections and keys are the ones of `SECTIONS`; ``[source]`` takes
the connector's spec properties. Anything else is a mistake (``[clickhous]``,
``lookbak_days``) and is refused with a "did you mean" hint, instead of being ignored while
data lands somewhere by default.

    settings = load("pipeline.secrets.toml")
    settings.get("clickhouse", "url")   # Setting(value=..., origin="[clickhouse] url in ...")
"""

from __future__ import annotations

import difflib
import functools
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

ENV_PREFIX = "KUBECOST_PIPELINE__"

# The keys of each section. [source] holds the connector's config (its spec's properties).
SECTIONS: Mapping[str, frozenset[str]] = {
    "clickhouse": frozenset({"url", "database", "cluster"}),
    "landing": frozenset({"database"}),
    "dbt": frozenset({"schema", "target"}),
    "mongodb": frozenset({"uri", "database"}),
    "mysql": frozenset({"url"}),
    "expenses": frozenset({"clickhouse_url", "database"}),
    "cloudtuner": frozenset(
        {
            "cluster_accounts",
            "expense_levels",
            "pool_id",
            "employee_id",
            "batch_size",
            "chunk_rows",
            "lock_timeout",
        }
    ),
}
# Settings that only come from the environment (a secret, a developer's switch).
ENVIRONMENT_ONLY: Mapping[str, frozenset[str]] = {
    "webhook": frozenset({"secret"}),
    "demo": frozenset({"mysql_url"}),
}


class SettingsError(ValueError):
    """The file or the environment has mistakes; `problems` says each one and its fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Setting:
    value: Any = field(repr=False)  # may be a secret
    origin: str  # "[section] key in FILE" or the environment variable's name

    @property
    def from_environment(self) -> bool:
        return self.origin.startswith(ENV_PREFIX)


@dataclass(frozen=True)
class Settings:
    """Validated settings by section and key; environment values are strings."""

    path: Path | None
    values: Mapping[tuple[str, str], Setting]

    def get(self, section: str, key: str) -> Setting | None:
        return self.values.get((section, key))

    def section(self, section: str) -> Iterator[tuple[str, Setting]]:
        """The keys set in ``section``, in file order, environment last."""
        return ((key, s) for (sec, key), s in self.values.items() if sec == section)


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


def data_dir() -> Path:
    """Where the pipeline keeps data it was given no place for (the embedded ClickHouse, the
    demo): the user's data directory (``$XDG_DATA_HOME/kubecost-pipeline``, by default
    ``~/.local/share/kubecost-pipeline`` on Linux), never the current directory."""
    return platformdirs.user_data_path("kubecost-pipeline")


@functools.cache
def source_keys() -> frozenset[str]:
    """The connector's config keys: the properties of its spec (source_kubecost/spec.yaml)."""
    import yaml

    spec = yaml.safe_load(resources.files("source_kubecost").joinpath("spec.yaml").read_text())
    return frozenset(spec["connectionSpecification"]["properties"])


def known_keys() -> dict[str, frozenset[str]]:
    return {"source": source_keys(), **SECTIONS}


def load(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file at ``path`` (optional), then the environment.

    Raises:
        SettingsError: the file cannot be read, or a section, key or variable is unknown;
            every problem is listed, each with a hint.
    """
    environ = os.environ if environ is None else environ
    known = known_keys()
    values: dict[tuple[str, str], Setting] = {}
    problems: list[str] = []
    if path is not None:
        try:
            document = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError([f"config file {path}: {exc}; fix the file."]) from exc
        for section, table in document.items():
            if not isinstance(table, dict):
                problems.append(
                    f"`{section}` in {path} is outside any section; put it under one of "
                    f"{_sections(known)}{_owner_hint(section, known)}"
                )
            elif section not in known:
                problems.append(f"[{section}] in {path} is not a section{_hint(section, known)}")
            else:
                for key, value in table.items():
                    if key in known[section]:
                        values[section, key] = Setting(value, f"[{section}] {key} in {path}")
                    else:
                        problems.append(
                            f"[{section}] {key} in {path} is not a setting"
                            f"{_key_hint(section, key, known)}"
                        )
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name.removeprefix(ENV_PREFIX).lower().partition("__")
        if key in known.get(section, ()):
            values[section, key] = Setting(value, name)
        elif key not in ENVIRONMENT_ONLY.get(section, ()):
            everything = {**known, **ENVIRONMENT_ONLY}
            options = [env_name(s, k) for s, keys in everything.items() for k in sorted(keys)]
            close = difflib.get_close_matches(name, options, n=1)
            problems.append(
                f"environment variable {name} is not a setting; "
                + (f"did you mean {close[0]}?" if close else "unset it.")
            )
    if problems:
        raise SettingsError(problems)
    return Settings(Path(path) if path is not None else None, values)


def _sections(known: Mapping[str, frozenset[str]]) -> str:
    return ", ".join(f"[{s}]" for s in known)


def _hint(section: str, known: Mapping[str, frozenset[str]]) -> str:
    close = difflib.get_close_matches(section, list(known), n=1)
    if close:
        return f"; did you mean [{close[0]}]?"
    return f"; the sections are {_sections(known)}."


def _owner_hint(key: str, known: Mapping[str, frozenset[str]]) -> str:
    owners = [s for s, keys in known.items() if key in keys]
    return f" (`{key}` is a key of [{owners[0]}])" if owners else ""


def _key_hint(section: str, key: str, known: Mapping[str, frozenset[str]]) -> str:
    close = difflib.get_close_matches(key, sorted(known[section]), n=1)
    if close:
        return f"; did you mean `{close[0]}`?"
    owners = [s for s, keys in known.items() if key in keys]
    if owners:
        return f"; it belongs in [{owners[0]}]."
    return f"; [{section}] has {', '.join(f'`{k}`' for k in sorted(known[section]))}."
