"""One typed configuration, from defaults < TOML file < environment < flags.

Every setting has one TOML key (``[section] key``) and one environment variable
``KUBECOST_PIPELINE__<SECTION>__<KEY>``. Passwords in URLs are masked in every repr and log.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubecost_pipeline.config import SettingsError, env_name
from kubecost_pipeline.config import load as load_settings
from kubecost_pipeline.post_sync import settings
from kubecost_pipeline.post_sync.errors import ConfigError
from kubecost_pipeline.urls import redact

CLICKHOUSE_SCHEMES = ("chdb", "http", "https")
MONGODB_SCHEMES = ("mongodb", "mongodb+srv")
MYSQL_SCHEMES = ("mysql", "mysql+pymysql", "mariadb")


@dataclass(frozen=True)
class HookConfig:
    """Everything `project()` needs. Build it with `load_config()`, which validates it."""

    marts_url: str = ""
    mongodb_uri: str = ""
    mysql_url: str = ""
    cluster_accounts: Mapping[str, str] = field(default_factory=dict)
    marts_database: str = settings.DEFAULT_MARTS_DATABASE
    mongodb_database: str = settings.DEFAULT_MONGODB_DATABASE
    expenses_url: str = ""  # empty: the marts' ClickHouse
    expenses_database: str = settings.DEFAULT_EXPENSES_DATABASE
    expense_levels: tuple[str, ...] = settings.DEFAULT_EXPENSE_LEVELS
    pool_id: str = ""  # empty: the organization's root pool
    employee_id: str = ""  # empty: the root pool's default owner
    batch_size: int = settings.DEFAULT_BATCH_SIZE
    chunk_rows: int = settings.DEFAULT_CHUNK_ROWS
    lock_timeout: float = 0.0

    @property
    def expenses_clickhouse_url(self) -> str:
        return self.expenses_url or self.marts_url

    def __repr__(self) -> str:
        return f"HookConfig({', '.join(f'{k}={v!r}' for k, v in self.describe().items())})"

    def describe(self) -> dict[str, Any]:
        """The settings with every password masked, for logs and --dry-run."""
        values = dataclasses.asdict(self)
        for name in ("marts_url", "mongodb_uri", "mysql_url", "expenses_url"):
            values[name] = redact(values[name])
        return values


# (TOML section, TOML key, attribute). Environment: KUBECOST_PIPELINE__<SECTION>__<KEY>.
KEYS = (
    ("clickhouse", "url", "marts_url"),
    ("clickhouse", "database", "marts_database"),
    ("mongodb", "uri", "mongodb_uri"),
    ("mongodb", "database", "mongodb_database"),
    ("mysql", "url", "mysql_url"),
    ("expenses", "clickhouse_url", "expenses_url"),
    ("expenses", "database", "expenses_database"),
    ("cloudtuner", "cluster_accounts", "cluster_accounts"),
    ("cloudtuner", "expense_levels", "expense_levels"),
    ("cloudtuner", "pool_id", "pool_id"),
    ("cloudtuner", "employee_id", "employee_id"),
    ("cloudtuner", "batch_size", "batch_size"),
    ("cloudtuner", "chunk_rows", "chunk_rows"),
    ("cloudtuner", "lock_timeout", "lock_timeout"),
)


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> HookConfig:
    """Merge defaults, the TOML file at `path`, `environ` and `overrides`, then validate.

    Args:
        path: a TOML file with the sections of `KEYS` (optional); it may be the pipeline's
            file, whose other sections the hook ignores. Read by `kubecost_pipeline.config`,
            which refuses unknown sections, keys and variables.
        environ: environment variables (default: `os.environ`).
        overrides: attribute -> value from command-line flags; None values are ignored.

    Returns:
        The validated `HookConfig`.

    Raises:
        ConfigError: listing every invalid value with its source and fix.
    """
    try:
        found = load_settings(path, environ)
    except SettingsError as exc:
        raise ConfigError(exc.problems) from exc
    raw: dict[str, tuple[Any, str]] = {}
    for section, key, attr in KEYS:
        if (setting := found.get(section, key)) is not None:
            raw[attr] = (setting.value, setting.origin)
    for attr, value in (overrides or {}).items():
        if value is not None:
            raw[attr] = (value, f"--{attr.replace('_', '-')}")

    problems: list[str] = []
    values: dict[str, Any] = {}
    for attr, (value, source) in raw.items():
        try:
            values[attr] = _PARSERS.get(attr, _text)(value)
        except ValueError as exc:
            problems.append(f"{source}: {exc}")
    config = HookConfig(**values)
    problems += validate(config, {attr: source for attr, (_, source) in raw.items()})
    if problems:
        raise ConfigError(problems)
    return config


def validate(config: HookConfig, sources: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of `config`, each naming the value, its source and the fix."""
    sources = sources or {}

    def anywhere(attr: str) -> str:
        section, key = next((s, k) for s, k, a in KEYS if a == attr)
        flag = "cluster-account" if attr == "cluster_accounts" else attr.replace("_", "-")
        return f"{env_name(section, key)}, [{section}] {key} or --{flag}"

    def where(attr: str) -> str:
        return sources.get(attr, anywhere(attr))

    problems = []
    for attr, schemes, example in (
        ("marts_url", CLICKHOUSE_SCHEMES, "chdb:///abs/dir or http://user:pass@host:8123"),
        ("mongodb_uri", MONGODB_SCHEMES, "mongodb://user:pass@host:27017"),
        ("mysql_url", MYSQL_SCHEMES, "mysql://user:pass@host:3306/my-db"),
        ("expenses_url", CLICKHOUSE_SCHEMES, "http://user:pass@host:8123"),
    ):
        url = getattr(config, attr)
        if not url and attr == "expenses_url":
            continue
        if not url:
            problems.append(f"{attr} is not set; set {anywhere(attr)} (e.g. {example})")
        elif urlsplit(url).scheme not in schemes:
            problems.append(
                f"{attr} `{redact(url)}` (from {where(attr)}) must start with "
                f"{' or '.join(s + '://' for s in schemes)}; e.g. {example}"
            )
        elif reason := _unparsable(attr, url):
            problems.append(f"{attr} `{redact(url)}` (from {where(attr)}) {reason}; e.g. {example}")
    if not config.cluster_accounts:
        problems.append(
            "no cluster is mapped to a CloudTuner cloud account; set "
            f"{anywhere('cluster_accounts')} "
            '(e.g. "prod-eu=<cloud account uuid>")'
        )
    for cluster, account in config.cluster_accounts.items():
        if not _is_uuid(account):
            problems.append(
                f"cluster `{cluster}` maps to `{account}`, which is not a cloud account id "
                "(a uuid from CloudTuner's cloudaccount table); fix the mapping"
            )
    seen: dict[str, str] = {}
    for cluster, account in config.cluster_accounts.items():
        if account in seen:
            problems.append(
                f"clusters `{seen[account]}` and `{cluster}` both map to cloud account {account}; "
                "their namespaces and pods would share ids (namespace:<ns>), so give each "
                "cluster its own kubernetes_cnr cloud account"
            )
        seen[account] = cluster
    unknown = [level for level in config.expense_levels if level not in settings.LEVELS]
    if unknown:
        problems.append(
            f"expense_levels {list(config.expense_levels)} (from {where('expense_levels')}) "
            f"has unknown {unknown}; choose one of {list(settings.LEVELS)}"
        )
    elif len(config.expense_levels) > 1:
        problems.append(
            f"expense_levels {list(config.expense_levels)} (from {where('expense_levels')}) "
            "would count the same money twice in CloudTuner: every level holds the whole "
            "cluster's cost. Choose one level (default: pod); the others keep their roll-ups "
            "in total_cost and meta"
        )
    for attr in ("pool_id", "employee_id"):
        value = getattr(config, attr)
        if value and not _is_uuid(value):
            problems.append(f"{attr} `{value}` (from {where(attr)}) is not a uuid; fix or unset it")
    if bool(config.pool_id) != bool(config.employee_id):
        problems.append(
            "pool_id and employee_id are set together or not at all (OptScale assigns both); "
            "set the missing one, or unset both to use the root pool and its default owner"
        )
    for attr in ("batch_size", "chunk_rows"):
        if getattr(config, attr) < 1:
            problems.append(f"{attr} {getattr(config, attr)} must be at least 1")
    if config.lock_timeout < 0:
        problems.append(f"lock_timeout {config.lock_timeout} must be >= 0 seconds")
    for attr in ("marts_database", "mongodb_database", "expenses_database"):
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", getattr(config, attr)):
            problems.append(f"{attr} `{getattr(config, attr)}` is not a database name")
    return problems


def _unparsable(attr: str, url: str) -> str | None:
    """Why a URL with the right scheme cannot be used, found without connecting."""
    if attr == "mongodb_uri":
        from pymongo.errors import PyMongoError
        from pymongo.uri_parser import parse_uri

        if url.startswith("mongodb+srv://"):  # parsing would look the SRV record up
            return None if urlsplit(url).hostname else "names no host"
        try:
            parse_uri(url)
        except (PyMongoError, ValueError) as exc:
            return f"is not a MongoDB URI ({redact(str(exc))})"
        return None
    try:
        urlsplit(url).port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return "has a port that is not a number"
    return None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"`{value!r}` must be a string")
    return value.strip()


def _mapping(value: Any) -> dict[str, str]:
    """``{"a": "x"}`` (TOML), ``["a=x"]`` (flags) or ``"a=x,b=y"`` (environment)."""
    if isinstance(value, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in value.items()}
    items = value.split(",") if isinstance(value, str) else list(value)
    mapping = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        cluster, sep, account = item.partition("=")
        if not sep or not cluster.strip() or not account.strip():
            raise ValueError(f"`{item}` must look like CLUSTER=CLOUD_ACCOUNT_ID")
        mapping[cluster.strip()] = account.strip()
    return mapping


def _levels(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(i).strip() for i in items if str(i).strip())


def _number(kind: type) -> Any:
    def parse(value: Any) -> Any:
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"`{value}` is not a {kind.__name__}") from None

    return parse


_PARSERS = {
    "cluster_accounts": _mapping,
    "expense_levels": _levels,
    "batch_size": _number(int),
    "chunk_rows": _number(int),
    "lock_timeout": _number(float),
}
