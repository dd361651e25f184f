"""Read-ahead: the next day is fetched and parsed in a forked process while this process
emits the current day.

Why: on a day of 50,000 containers, parsing and flattening (ijson) and emitting (reading the
spool back, the CDK's serialization) each take about half of the per-day time, and both are
CPU-bound Python, so a thread would not overlap them. A forked child shares the loaded
modules (no start-up cost) and hands its spools over by file path; its log lines and errors
come back through a pipe and are re-raised here when the day is due, so state and error
semantics are those of reading the days one after another. Linux/macOS only (fork);
elsewhere, or when `read_ahead` is off, days are fetched inline.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import date
from multiprocessing.connection import Connection
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_kubecost.client import KubecostClient, Spool

logger = logging.getLogger("airbyte")
Fetch = Callable[[date], list[Spool]]


class _Collect(logging.Handler):
    """Keeps the child's log records to be logged by the parent (one stdout writer)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


def _child(client: KubecostClient, fetch: Fetch, day: date, directory: str, send: Connection):
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - stdout belongs to the parent
    collect = _Collect()
    for name in ("", "airbyte"):
        logging.getLogger(name).handlers = [collect]
    logger.propagate = False
    Spool.directory = directory
    client.renew_session()
    try:
        parts = fetch(day)
        send.send(("ok", [part.handover() for part in parts], collect.lines))
    except AirbyteTracedException as error:
        failure = (error.message, error.internal_message, error.failure_type)
        send.send(("error", failure, collect.lines))
    except BaseException as error:
        failure = (None, f"{type(error).__name__}: {error}", FailureType.system_error)
        send.send(("error", failure, collect.lines))


class ReadAhead:
    """Starts `fetch(day)` in a child; `take(day)` returns its spools or raises its error."""

    def __init__(self, client: KubecostClient, fetch: Fetch, enabled: bool):
        self.client, self.fetch = client, fetch
        self.enabled = enabled and "fork" in multiprocessing.get_all_start_methods()
        self._pending: dict[date, tuple[Any, Connection]] = {}
        self._directory: str | None = None

    def start(self, day: date) -> None:
        if not self.enabled or day in self._pending:
            return
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="source-kubecost-")
            atexit.register(self.close)
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_child, args=(self.client, self.fetch, day, self._directory, send), daemon=True
        )
        child.start()
        send.close()
        self._pending[day] = (child, receive)

    def take(self, day: date) -> list[Spool]:
        pending = self._pending.pop(day, None)
        if pending is None:
            return self.fetch(day)
        child, receive = pending
        try:
            kind, payload, lines = receive.recv()
        except EOFError:
            kind, payload, lines = "error", (None, "read-ahead process died", None), []
        finally:
            receive.close()
            child.join()
        for level, line in lines:
            logger.log(level, "%s", line)
        if kind == "ok":
            return [Spool.adopt(*part) for part in payload]
        message, internal, failure_type = payload
        raise AirbyteTracedException(
            message=message, internal_message=internal, failure_type=failure_type
        )

    def close(self) -> None:
        for child, receive in self._pending.values():
            child.kill()
            receive.close()
        self._pending.clear()
        if self._directory:
            shutil.rmtree(self._directory, ignore_errors=True)
