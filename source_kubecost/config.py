"""The validated connector configuration: one typed object built from the Airbyte config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from source_kubecost.errors import config_error

# Every preset keeps `cluster` first and the properties of every level above it, because
# Kubecost >= 2.2.3 returns only the properties of the aggregated levels.
AGGREGATES = {
    "cluster": "cluster",
    "node": "cluster,node",
    "namespace": "cluster,namespace",
    "controller": "cluster,namespace,controllerKind,controller",
    "pod": "cluster,node,namespace,controllerKind,controller,pod",
    "container": "cluster,node,namespace,controllerKind,controller,pod,container",
}
IDLE_POLICIES = ("separate", "shared", "none")
FLAVOURS = ("auto", "kubecost", "opencost")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Settings:
    """Everything a sync needs, checked once at start-up."""

    base_url: str  # scheme://host[:port][/path], without a trailing /model
    flavour: str  # auto | kubecost | opencost
    model_prefix: bool | None  # True: paths under /model; None: detect
    headers: Mapping[str, str]
    auth: tuple[str, str] | None
    verify: bool | str  # requests' `verify`: a bool or a CA bundle path
    ca_certificate: str | None
    start_date: date
    end_date: date | None
    lookback_days: int
    include_current_day: bool
    granularity: str
    idle_policy: str
    idle_by_node: bool
    share_namespaces: tuple[str, ...]
    share_labels: tuple[str, ...]
    share_tenancy_costs: bool
    reconcile: bool
    filter: str
    request_timeout: int
    page_size: int | None
    read_ahead: bool
    query_settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def aggregate(self) -> str:
        return AGGREGATES[self.granularity]

    def allocation_params(self) -> dict[str, str]:
        """The cost-shaping query parameters, sent explicitly on every allocation request.

        Kubecost and OpenCost name the idle switch differently (`idle` / `includeIdle`);
        each ignores the other's name, so both are sent.
        """
        idle = self.idle_policy != "none"
        params = {
            "aggregate": self.aggregate,
            "accumulate": "true",
            "step": "1d",
            "idle": _bool(idle),
            "includeIdle": _bool(idle),
            "shareIdle": _bool(self.idle_policy == "shared"),
            "splitIdle": _bool(self.idle_policy == "separate"),
            "idleByNode": _bool(self.idle_by_node),
            "shareNamespaces": ",".join(self.share_namespaces),
            "shareLabels": ",".join(self.share_labels),
            "shareTenancyCosts": _bool(self.share_tenancy_costs),
            "reconcile": _bool(self.reconcile),
        }
        if self.filter:
            params["filter"] = self.filter
        return params


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _parse_date(config: Mapping[str, Any], key: str) -> date | None:
    value = config.get(key)
    if value in (None, ""):
        return None
    text = str(value)[:10] if "T" in str(value) else str(value)
    if not _DATE.match(text):
        raise config_error(
            f"`{key}` is {value!r}, which is not a date. Use the form YYYY-MM-DD, e.g. 2024-05-01."
        )
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise config_error(f"`{key}` is {value!r}, which is not a calendar date.") from None


def _redacted(url: str) -> str:
    """`url` with any user:password replaced, for messages."""
    return re.sub(r"//[^/?#]*@", "//***@", url)


def _split_url(raw: str) -> tuple[str, bool | None]:
    """Strips a trailing `/model` (kept as a hint); refuses credentials in the URL."""
    text = (raw or "").strip()
    example = (
        "Use e.g. http://kubecost-cost-analyzer.kubecost:9090 (Kubecost) or "
        "http://opencost.opencost:9003 (OpenCost)."
    )
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port that is not a number from 0 to 65535
    except ValueError as error:
        raise config_error(
            f"Kubecost URL {_redacted(text)!r} is not a valid URL ({error}). {example}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise config_error(f"Kubecost URL {_redacted(text)!r} is not an http(s) URL. {example}")
    if parts.username is not None or parts.password is not None:
        raise config_error(
            f"The Kubecost URL {_redacted(text)!r} holds a user name or password. Remove them "
            "from the URL and choose 'Basic (username and password)' under Authentication, "
            "where the password is kept as a secret."
        )
    path = parts.path.rstrip("/")
    model = None
    if path.endswith("/model"):
        path, model = path[: -len("/model")], True
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6 literal
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, path, "", "")), model


_LINE_BREAK = re.compile(r"[\x00-\x1f\x7f]")


def _secret(creds: Mapping[str, Any], key: str, what: str) -> str:
    """A credential value that can go into an HTTP header: no line breaks or control
    characters (the value itself is never echoed)."""
    value = str(creds.get(key) or "")
    if _LINE_BREAK.search(value):
        raise config_error(
            f"The {what} contains a line break or another control character, which cannot be "
            "sent in an HTTP header. Paste it again on one line, without surrounding spaces."
        )
    return value


def _credentials(config: Mapping[str, Any]) -> tuple[dict[str, str], tuple[str, str] | None]:
    creds = config.get("credentials") or {"auth_type": "none"}
    kind = creds.get("auth_type", "none")
    if kind == "none":
        return {}, None
    if kind == "basic":
        return {}, (_secret(creds, "username", "username"), _secret(creds, "password", "password"))
    if kind == "bearer":
        return {"Authorization": f"Bearer {_secret(creds, 'token', 'bearer token')}"}, None
    if kind == "cookie":
        name = _secret(creds, "cookie_name", "cookie name") or "token"
        return {"Cookie": f"{name}={_secret(creds, 'token', 'cookie token')}"}, None
    if kind == "header":
        header = _secret(creds, "header_name", "header name").strip()
        if not header:
            raise config_error("Custom header authentication needs a header name, e.g. X-Api-Key.")
        return {header: _secret(creds, "header_value", "header value")}, None
    raise config_error(
        f"Authentication type {kind!r} is unknown. Choose none, basic, bearer, cookie or header."
    )


def _int(config: Mapping[str, Any], key: str, default: int | None, low: int, high: int) -> Any:
    value = config.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise config_error(f"`{key}` is {value!r}; it must be a whole number from {low} to {high}.")
    return value


def _list(config: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = config.get(key) or []
    if isinstance(value, str):
        value = value.split(",")
    return tuple(str(v).strip() for v in value if str(v).strip())


def parse_config(config: Mapping[str, Any], today: date | None = None) -> Settings:
    """Validates the Airbyte config; raises a config_error naming the bad value and the fix."""
    base_url, model = _split_url(config.get("url", ""))
    flavour = config.get("flavour", "auto")
    if flavour not in FLAVOURS:
        raise config_error(f"API flavour {flavour!r} is unknown. Choose one of {FLAVOURS}.")
    if model is None and flavour != "auto":
        model = flavour == "kubecost"
    headers, auth = _credentials(config)
    ca = (config.get("ca_certificate") or "").strip() or None
    if ca and "BEGIN CERTIFICATE" not in ca:
        raise config_error(
            "The custom CA certificate is not a PEM certificate. Paste the whole PEM text, "
            "from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----."
        )
    start = _parse_date(config, "start_date")
    if start is None:
        raise config_error("`start_date` is required, e.g. 2024-05-01.")
    end = _parse_date(config, "end_date")
    if end is not None and end < start:
        raise config_error(f"`end_date` {end} is before `start_date` {start}; swap or fix them.")
    today = today or datetime.now(UTC).date()
    if start > today:
        raise config_error(f"`start_date` {start} is in the future; today (UTC) is {today}.")
    granularity = config.get("granularity", "container")
    if granularity not in AGGREGATES:
        raise config_error(
            f"Granularity {granularity!r} is unknown. Choose one of {', '.join(AGGREGATES)}."
        )
    idle_policy = config.get("idle_policy", "separate")
    if idle_policy not in IDLE_POLICIES:
        raise config_error(
            f"Idle policy {idle_policy!r} is unknown. Choose one of {', '.join(IDLE_POLICIES)}."
        )
    settings = Settings(
        base_url=base_url,
        flavour=flavour,
        model_prefix=model,
        headers=headers,
        auth=auth,
        verify=bool(config.get("verify_tls", True)),
        ca_certificate=ca,
        start_date=start,
        end_date=end,
        lookback_days=_int(config, "lookback_days", 3, 0, 90),
        include_current_day=bool(config.get("include_current_day", False)),
        granularity=granularity,
        idle_policy=idle_policy,
        idle_by_node=bool(config.get("idle_by_node", False)),
        share_namespaces=_list(config, "share_namespaces"),
        share_labels=_list(config, "share_labels"),
        share_tenancy_costs=bool(config.get("share_tenancy_costs", True)),
        reconcile=bool(config.get("reconcile", True)),
        filter=str(config.get("filter") or "").strip(),
        request_timeout=_int(config, "request_timeout_seconds", 300, 1, 3600),
        page_size=_int(config, "page_size", None, 1, 100000),
        read_ahead=bool(config.get("read_ahead", True)),
    )
    params = settings.allocation_params()
    params.pop("accumulate"), params.pop("step")
    object.__setattr__(settings, "query_settings", params)
    return settings
