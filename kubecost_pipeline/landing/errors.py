"""Errors of the landing: each message names the bad value and the fix."""

from __future__ import annotations


class LandingError(Exception):
    """Base of every landing failure; the CLI prints it and exits non-zero."""


class CatalogError(LandingError):
    """The catalog or a stream schema cannot be landed as asked."""


class RecordError(LandingError):
    """A record cannot be landed (e.g. a null primary-key value)."""


class SourceError(LandingError):
    """The source failed; what it delivered before its last committed state is kept."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result
