"""Day workers: days are fetched, parsed and serialized in forked processes, ahead of the sync.

Why: on a day of 50,000 containers, parsing (ijson), flattening and serializing records take
about 1.5 CPU-seconds of Python, and importing the CDK another 1.6 s. So `source-kubecost
read` plans the days of its first day stream and forks `WORKERS` of them *before* it imports
the CDK (`begin`); the sync process then only copies finished days to stdout (launch.py), and
more days are forked as days are taken. Parsing overlaps start-up, and days overlap each other.

A worker hands its spools over by file path. Its log lines and its error come back through a
pipe and are logged or raised when the day is due, so state and error semantics are those of
reading the days one after another. Linux/macOS only (fork); elsewhere, or when `read_ahead`
is off, days are fetched inline.
"""

from __future__ import annotations

import atexit
import json
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from typing import Any

from source_kubecost.client import KubecostClient
from source_kubecost.config import parse_config
from source_kubecost.days import READERS, DayReader, parse_state_day, sync_days
from source_kubecost.errors import KubecostError
from source_kubecost.spool import Spool

logger = logging.getLogger("airbyte")
WORKERS = 2  # days in flight; each worker holds one day's parse (tens of MB)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class _Collect(logging.Handler):
    """Keeps a worker's log records to be logged by the sync process (one stdout writer)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


def _work(reader: DayReader, day: date, directory: str, send: Connection) -> None:
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - stdout is the sync's
    collect = _Collect()
    for name in ("", "airbyte"):
        logging.getLogger(name).handlers = [collect]
    logger.propagate = False
    Spool.directory = directory
    reader.client.renew_session()
    try:
        parts = reader.fetch(day)
        send.send(("ok", [part.handover() for part in parts], collect.lines))
    except KubecostError as error:
        send.send(("error", error, collect.lines))
    except BaseException as error:
        failure = KubecostError(
            f"Reading {reader.stream} for {day} failed unexpectedly: "
            f"{type(error).__name__}: {error}",
            repr(error),
        )
        send.send(("error", failure, collect.lines))


class Prefetch:
    """Days of one reader fetched by forked workers, `WORKERS` at a time, in the expected order."""

    def __init__(self) -> None:
        self._reader: DayReader | None = None
        self._queue: list[date] = []
        self._running: dict[date, tuple[Any, Connection]] = {}
        self._directory: str | None = None

    def expect(self, reader: DayReader, days: list[date]) -> None:
        """The days `reader` will take, in order; work started for anything else is dropped."""
        if not _same(reader, self._reader):
            self.close()
            self._reader = reader
        for day in [d for d in self._running if d not in days]:
            self._stop(day)
        self._queue = [d for d in days if d not in self._running]
        self._fill()

    def take(self, reader: DayReader, day: date) -> list[Spool]:
        """The day's spools from its worker (started now if it was not), or its error."""
        if not _same(reader, self._reader):
            self.expect(reader, [day])
        if day not in self._running:
            self._queue.insert(0, day)
            self._fill()
        child, receive = self._running.pop(day)
        self._fill()
        try:
            kind, payload, lines = receive.recv()
        except EOFError:
            kind, lines = "error", []
            payload = KubecostError(
                f"The process reading {reader.stream} for {day} died (out of memory?).",
                f"exit code {child.exitcode}",
            )
        finally:
            receive.close()
            child.join()
        for level, line in lines:
            logger.log(level, "%s", line)
        if kind != "ok":
            raise payload
        return [Spool.adopt(*part) for part in payload]

    def _fill(self) -> None:
        while self._queue and len(self._running) < WORKERS:
            self._start(self._queue.pop(0))

    def _start(self, day: date) -> None:
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="source-kubecost-")
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_work, args=(self._reader, day, self._directory, send), daemon=True
        )
        child.start()
        send.close()
        self._running[day] = (child, receive)

    def _stop(self, day: date) -> None:
        child, receive = self._running.pop(day)
        child.kill()
        child.join()
        receive.close()

    def close(self) -> None:
        for day in list(self._running):
            self._stop(day)
        self._queue = []
        if self._directory:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


def _same(one: DayReader | None, other: DayReader | None) -> bool:
    return one is other or (
        one is not None
        and other is not None
        and type(one) is type(other)
        and one.settings == other.settings
    )


_shared: Prefetch | None = None


def shared() -> Prefetch:
    """The process's day workers (one set: the CDK reads one stream at a time)."""
    global _shared
    if _shared is None:
        _shared = Prefetch()
        atexit.register(_shared.close)
    return _shared


def begin(argv: list[str], now: datetime | None = None) -> None:
    """For `read`, starts the first days of the catalog's first day stream, before the CDK
    is imported. Best effort: whatever is wrong here, the sync reports it itself."""
    if not argv or argv[0] != "read" or not can_fork():
        return
    level = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # the sync logs its own warnings about the state
    try:
        options = _options(argv[1:])
        settings = parse_config(_load(options["--config"]))
        if not settings.read_ahead:
            return
        configured = next(
            s for s in _load(options["--catalog"])["streams"] if s["stream"]["name"] in READERS
        )
        name = configured["stream"]["name"]
        synced = None
        if configured.get("sync_mode") == "incremental" and "--state" in options:
            synced = parse_state_day(_stream_state(_load(options["--state"]), name))
        days = sync_days(settings, synced, now or datetime.now(UTC), name)
        shared().expect(READERS[name](KubecostClient(settings), settings), days)
    except Exception:  # a head start only
        return
    finally:
        logging.disable(level)


def _options(args: list[str]) -> dict[str, str]:
    """`--config`, `--catalog` and `--state`, given as `--name value` or `--name=value`."""
    options = {}
    for index, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if name in ("--config", "--catalog", "--state"):
            if equals:
                options[name] = value
            elif index + 1 < len(args):
                options[name] = args[index + 1]
    return options


def _load(path: str) -> Any:
    with open(path) as file:
        return json.load(file)


def _stream_state(state: Any, name: str) -> Mapping[str, Any] | None:
    """One stream's state from the protocol's list of state messages (or a legacy dict)."""
    if isinstance(state, dict):
        return state.get(name)
    for message in state or []:
        stream = message.get("stream") or {}
        if stream.get("stream_descriptor", {}).get("name") == name:
            return stream.get("stream_state")
    return None
