"""Exceptions of the CloudTuner projection; every one is a `PostSyncError`."""

from __future__ import annotations

import re
from typing import Any

_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")


class PostSyncError(Exception):
    """Base of every error the hook raises on purpose."""


class ConfigError(PostSyncError):
    """The configuration is invalid; the message lists every problem and its fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        if len(problems) == 1:  # one problem, one line
            super().__init__(f"Invalid CloudTuner hook configuration: {problems[0]}")
            return
        bullets = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid CloudTuner hook configuration:\n{bullets}")


class LockBusyError(PostSyncError):
    """Another run holds the advisory lock of this cloud account."""

    def __init__(self, account_id: str, lock_name: str, timeout: float):
        super().__init__(
            f"Cloud account {account_id} is being projected by another run (MySQL lock "
            f"`{lock_name}` still held after {timeout:g} s).\n"
            "  - wait for the other run to finish, or\n"
            "  - raise --lock-timeout to wait longer.\n"
            "Nothing was written for this account."
        )


class StoreError(PostSyncError):
    """A store failed; `store` names it ("MongoDB resources", "ClickHouse expenses", ...)."""

    def __init__(self, store: str, cause: BaseException | str, account_id: str | None = None):
        self.store = store
        self.account_id = account_id
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        self.reason = _CREDENTIALS.sub(r"\1***@", reason)  # a driver may echo its URL
        super().__init__(store, self.reason)

    def __str__(self) -> str:
        where = f" for cloud account {self.account_id}" if self.account_id else ""
        return f"{self.store} failed{where}: {self.reason}"


class ProjectionFailed(PostSyncError):
    """At least one cloud account failed; `errors` holds one error per failed account."""

    def __init__(self, errors: list[PostSyncError], result: Any):
        self.errors = errors
        self.result = result
        super().__init__("\n".join(str(e) for e in errors))
