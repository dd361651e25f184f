"""Errors a user meets, without the CDK: the day workers run before the CDK is imported.

`streams.py` and `source.py` raise them as Airbyte traced errors (`airbyte_errors`).
"""

from __future__ import annotations

CONFIG, TRANSIENT, SYSTEM = "config_error", "transient_error", "system_error"


class KubecostError(Exception):
    """A failure with a message that says what to fix; `failure_type` is Airbyte's name."""

    def __init__(
        self, message: str, internal_message: str | None = None, failure_type: str = SYSTEM
    ):
        super().__init__(message)
        self.message = message
        self.internal_message = internal_message
        self.failure_type = failure_type

    def __reduce__(self) -> tuple[type, tuple[str, str | None, str]]:
        # Crosses the pipe from a day worker to the sync process.
        return type(self), (self.message, self.internal_message, self.failure_type)


class TimedOut(KubecostError):
    """A request kept timing out at this size: the caller may split it."""


def config_error(message: str, internal: str | None = None) -> KubecostError:
    return KubecostError(message, internal, CONFIG)
