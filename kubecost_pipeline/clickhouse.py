"""Opening ClickHouse: the one place every room gets its clickhouse-connect client from.

A ClickHouse is one URL everywhere: `chdb:///abs/dir` (embedded chDB) or
`http(s)://user:password@host:port/database` (a server; port 8123, or 8443 with https).
Whatever goes wrong while opening it (a bad URL, a wrong password, nothing listening, TLS on
one side only, a chDB directory another process holds) raises `ClickHouseUnavailable`, whose
message is one line that names the URL without its password and says what to do.

    from kubecost_pipeline.clickhouse import connect
    client = connect("https://analyst:secret@ch.example.com/kubecost")
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import socket
import ssl
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from kubecost_pipeline.urls import redact

SCHEMES = ("chdb", "http", "https")
DEFAULT_PORTS = {"http": 8123, "https": 8443}
# ClickHouse error codes that mean "who you are was refused" (ErrorCodes.cpp): UNKNOWN_USER,
# WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED.
AUTHENTICATION_CODES = {192, 193, 194, 516}
URL_HELP = "use chdb:///absolute/dir (embedded) or http(s)://user:password@host:port/database"


class ClickHouseUnavailable(Exception):
    """ClickHouse cannot be opened; the message is one line: what failed and what to do."""


@dataclass(frozen=True)
class ClickHouseURL:
    """A parsed ClickHouse URL. `password` never shows in repr; `str()` is redacted."""

    url: str = field(repr=False)
    scheme: str  # chdb | http | https
    host: str = ""
    port: int = 0
    user: str = "default"
    password: str = field(default="", repr=False)
    database: str | None = None
    path: str = ""  # the chDB directory

    @classmethod
    def parse(cls, url: str) -> ClickHouseURL:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise ClickHouseUnavailable(
                f"The ClickHouse URL {redact(url)!r} cannot be parsed ({error}); {URL_HELP}."
            ) from None
        if parts.scheme == "chdb":
            if parts.netloc or not parts.path.startswith("/"):
                raise ClickHouseUnavailable(
                    f"The embedded ClickHouse URL {redact(url)!r} needs an absolute directory: "
                    "chdb:///absolute/dir (three slashes)."
                )
            return cls(url, "chdb", path=parts.path)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ClickHouseUnavailable(f"Unsupported ClickHouse URL {redact(url)!r}: {URL_HELP}.")
        return cls(
            url,
            parts.scheme,
            host=parts.hostname,
            port=port or DEFAULT_PORTS[parts.scheme],
            user=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password or ""),
            database=unquote(parts.path.strip("/")) or None,
        )

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    def __str__(self) -> str:
        return redact(self.url)


def connect(url: str | ClickHouseURL, **options: Any) -> Any:
    """A clickhouse-connect client for a ClickHouse URL.

    Args:
        url: `chdb:///dir` or `http(s)://user:password@host:port/database`.
        options: more `clickhouse_connect.get_client` arguments (settings, timeouts, ...).

    Returns:
        A connected client (the server has answered a first query).

    Raises:
        ClickHouseUnavailable: a one-line message naming the redacted URL and the fix.
    """
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import ClickHouseError

    target = url if isinstance(url, ClickHouseURL) else ClickHouseURL.parse(url)
    if target.scheme == "chdb":
        engine_said = io.StringIO()
        try:
            Path(target.path).mkdir(parents=True, exist_ok=True)
            with _engine_stderr(engine_said):
                return clickhouse_connect.get_client(interface="chdb", path=target.path, **options)
        except (ClickHouseError, OSError) as error:
            said = engine_said.getvalue().strip().splitlines()
            raise ClickHouseUnavailable(
                f"Cannot open the embedded ClickHouse at {target.path}: "
                f"{redact(said[0]) if said else _first_line(error)}. "
                "chDB lets one process open a directory at a time: wait for the other "
                "kubecost-pipeline (or dbt) process to finish, or use another directory."
            ) from error
    try:
        # Every part passed explicitly: from a DSN, clickhouse-connect takes https only on
        # ports 443 and 8443 and would speak plain HTTP to https://host:9443.
        return clickhouse_connect.get_client(
            interface=target.scheme,
            host=target.host,
            port=target.port,
            username=target.user,
            password=target.password,
            database=target.database,
            **options,
        )
    except (ClickHouseError, OSError) as error:
        raise ClickHouseUnavailable(explain(error, target)) from error


@contextlib.contextmanager
def _engine_stderr(said: io.StringIO) -> Iterator[None]:
    """Hold back what is written to file descriptor 2 while chDB opens its engine: the engine
    prints why it cannot (another process holds the directory) there itself, before the
    error. What it wrote goes into `said` when the open fails, and out to stderr otherwise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            said.write(_read_back(held))
            raise
        else:
            os.write(saved, _read_back(held).encode())
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _read_back(file: IO[bytes]) -> str:
    file.flush()
    file.seek(0)
    return file.read().decode(errors="replace")


def explain(error: BaseException, target: ClickHouseURL) -> str:
    """One line for a failure to reach or use ClickHouse at `target`: what and what to do.

    Works for errors of `connect` and of any statement run on its client afterwards.
    """
    from clickhouse_connect.driver.exceptions import DatabaseError
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, ReadTimeoutError

    where = str(target)
    causes = list(_causes(error))
    endpoint = f"{target.host}:{target.port}"
    if any(getattr(e, "code", None) in AUTHENTICATION_CODES for e in causes):
        return (
            f"ClickHouse at {where} refused user {target.user!r}: wrong user or password. "
            "Fix the user and password in the ClickHouse URL."
        )
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in causes):
        return (
            f"The TLS certificate of {endpoint} is not trusted ({_verify_reason(causes)}): "
            "use the server's name as it appears in its certificate, or trust its CA."
        )
    if any(isinstance(e, ssl.SSLError) for e in causes):
        return (
            f"TLS handshake with {endpoint} failed: it does not speak HTTPS on that port. Use "
            "http:// for a plain port (8123 by default) or the server's HTTPS port (8443)."
        )
    if any(isinstance(e, NameResolutionError | socket.gaierror) for e in causes):
        return f"Cannot resolve the host {target.host!r} of ClickHouse {where}: check its name."
    if any(isinstance(e, ConnectionRefusedError) for e in causes):
        return (
            f"Nothing accepts connections at {endpoint} ({where}): check the host and port, "
            "and that ClickHouse is running."
        )
    if any(isinstance(e, ConnectTimeoutError | ReadTimeoutError | TimeoutError) for e in causes):
        return f"ClickHouse at {where} did not answer in time: check the host, port and firewall."
    if any(isinstance(e, http.client.HTTPException | ConnectionError) for e in causes):
        advice = (
            "if it serves HTTPS (port 8443 by default), use https://"
            if not target.secure
            else "check the port and that the server is up"
        )
        return f"{endpoint} closed the connection without an HTTP answer: {advice}."
    if isinstance(error, DatabaseError):
        return f"ClickHouse at {where} refused the statement: {_server_message(error)}"
    return f"Cannot reach ClickHouse at {where}: {_first_line(error)}"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it was raised from (urllib3 keeps the socket error in
    `MaxRetryError.reason`)."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [e for e in [*linked, *current.args] if isinstance(e, BaseException)]


def _verify_reason(causes: list[BaseException]) -> str:
    verify = next(e for e in causes if isinstance(e, ssl.SSLCertVerificationError))
    return verify.verify_message or "certificate verify failed"


def _server_message(error: BaseException) -> str:
    """ClickHouse's own exception text, without the driver's prefix, URL and version."""
    text = _first_line(error)
    text = text.split("server response: ", 1)[-1]
    for trailer in (" (for url ", " (version "):
        text = text.split(trailer, 1)[0]
    return redact(text)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return redact(lines[0]) if lines else type(error).__name__
