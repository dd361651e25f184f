"""Failures as types, without the CDK: the day workers run before the CDK is imported.

Callers decide by type, never by message text. `streams.py` and `source.py` raise a
`KubecostError` as the Airbyte traced error it describes (`airbyte_errors`).
"""

from __future__ import annotations

from typing import Any

CONFIG, TRANSIENT, SYSTEM = "config_error", "transient_error", "system_error"


def _restore(cls: type[BaseException], state: dict[str, Any]) -> BaseException:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", state.get("cause", "")))
    error.__dict__.update(state)
    return error


class _Picklable(Exception):
    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross the pipe from a day worker to the sync process, attributes included.
        return _restore, (type(self), dict(self.__dict__))


class KubecostError(_Picklable):
    """A failure with a message that says what to fix; `failure_type` is Airbyte's name."""

    failure_type = SYSTEM

    def __init__(
        self, message: str, internal_message: str | None = None, failure_type: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.internal_message = internal_message
        if failure_type is not None:
            self.failure_type = failure_type


class ConfigError(KubecostError):
    """Something the user fixes in the connector's settings or in Kubecost's."""

    failure_type = CONFIG


class ApiNotFound(ConfigError):
    """HTTP 404: nothing answers at this path (a wrong URL, flavour or an older version)."""


class NotTheApi(ConfigError):
    """HTTP 200 with an HTML page: a login page, the UI or another service."""


class QueryRejected(ConfigError):
    """Another 4xx: Kubecost rejected a parameter (a filter, a sharing option)."""


class Malformed(KubecostError):
    """A payload that is not what the API promises (bad JSON, wrong shapes, duplicate keys)."""


class Transient(_Picklable):
    """One attempt that is worth retrying: 5xx, 429, timeouts, resets, truncated bodies."""

    def __init__(self, cause: str, retry_after: float | None = None, timeout: bool = False):
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after
        self.timeout = timeout


class ConnectFailed(Transient):
    """No HTTP answer at all: DNS, refused, unreachable, connect timeout."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"cannot connect to {url} ({reason})")
        self.url, self.reason = url, reason


class RetriesExhausted(KubecostError):
    """Every attempt failed transiently; `last` is the last attempt's cause."""

    failure_type = TRANSIENT

    def __init__(self, message: str, last: Transient):
        super().__init__(message, last.cause)
        self.last = last


class TimedOut(RetriesExhausted):
    """A request kept timing out at this size: the caller may split it."""


def config_error(message: str, internal: str | None = None) -> ConfigError:
    return ConfigError(message, internal)
