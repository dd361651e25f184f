"""Day workers: days are fetched, parsed and serialized in forked processes, ahead of the sync.

Why: on a day of 50,000 containers, parsing (ijson), flattening and serializing records take
about 1.5 CPU-seconds of Python, and importing the CDK another 1.6 s. So `source-kubecost
read` plans the days of its first day stream and forks `WORKERS` processes that start on them
*before* it imports the CDK (`begin`); the sync process then only copies finished days to
stdout (launch.py). Parsing overlaps start-up, and days overlap each other.

A worker hands its spools over by file path. Its log lines and its error come back through a
pipe and are logged or raised when the day is due, so state and error semantics are those of
reading the days one after another. Linux/macOS only (fork); elsewhere, or when `read_ahead`
is off, days are fetched inline.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import multiprocessing
import os
import shutil
import signal
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
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class _Collect(logging.Handler):
    """Keeps a worker's log records to be logged by the sync process (one stdout writer)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


def _die_with(parent: int) -> None:
    """Linux: this process is killed when `parent` dies (a cancelled or killed sync), even in
    the middle of a day. Elsewhere a worker ends at its next job or when its pipe breaks."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def _serve(jobs: Connection, parent: int) -> None:
    """A worker: fetches the days it is sent, one at a time, until the sync closes the pipe."""
    _die_with(parent)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - stdout is the sync's
    collect = _Collect()
    for name in ("", "airbyte"):
        logging.getLogger(name).handlers = [collect]
    logger.propagate = False
    logging.disable(logging.NOTSET)  # forked while `begin` had logging off
    logger.setLevel(logging.DEBUG)  # the sync process logs what its level lets through
    while True:
        try:
            reader, day, Spool.directory = jobs.recv()
        except EOFError:
            return
        collect.lines = []
        reader.client.renew_session()
        try:
            parts = reader.fetch(day)
            jobs.send(("ok", [part.handover() for part in parts], collect.lines))
        except KubecostError as error:
            jobs.send(("error", error, collect.lines))
        except Exception as error:
            failure = KubecostError(
                f"Reading {reader.stream} for {day} failed unexpectedly: "
                f"{type(error).__name__}: {error}",
                repr(error),
            )
            jobs.send(("error", failure, collect.lines))


class _Worker:
    """A forked process, its pipe and its spool directory; `day` is the day it is fetching."""

    def __init__(self, directory: str) -> None:
        self.directory = tempfile.mkdtemp(dir=directory)
        context = multiprocessing.get_context("fork")
        self.jobs, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, os.getpid()), daemon=True)
        self.process.start()
        theirs.close()
        self.day: date | None = None
        self.what = ""

    def start(self, reader: DayReader, day: date) -> None:
        self.jobs.send((reader, day, self.directory))
        self.day, self.what = day, f"{reader.stream} for {day}"

    def result(self) -> tuple[str, Any, list[tuple[int, str]]]:
        self.day = None
        try:
            return self.jobs.recv()
        except EOFError:
            self.process.join()
            failure = KubecostError(
                f"The process reading {self.what} died (out of memory?).",
                f"exit code {self.process.exitcode}",
            )
            return "error", failure, []

    def stop(self) -> None:
        """Kills the process, whatever it is doing, and deletes what it fetched."""
        self.jobs.close()
        self.process.kill()
        self.process.join()
        shutil.rmtree(self.directory, ignore_errors=True)


class Prefetch:
    """Days of one reader fetched ahead, in the expected order, by `WORKERS` forked processes.

    The workers live for the whole sync: `source-kubecost read` forks them before it imports
    the CDK (`begin`), so they stay small (about 45 MB each while parsing a day).
    """

    def __init__(self) -> None:
        self._reader: DayReader | None = None
        self._queue: list[date] = []
        self._workers: list[_Worker] = []
        self._directory: str | None = None

    def expect(self, reader: DayReader, days: list[date]) -> None:
        """The days `reader` will take, in order; work started for anything else is dropped."""
        keep = days if _same(reader, self._reader) else []
        self._reader = reader
        for worker in [w for w in self._workers if w.day is not None and w.day not in keep]:
            worker.stop()  # a new worker replaces it: waiting could take a slow day's time
            self._workers.remove(worker)
        running = {w.day for w in self._workers}
        self._queue = [d for d in days if d not in running]
        self._fill()

    def take(self, reader: DayReader, day: date) -> list[Spool]:
        """The day's spools from its worker, or its error; a day not expected is read here."""
        worker = next((w for w in self._workers if w.day == day), None)
        if worker is None or not _same(reader, self._reader):
            return reader.fetch(day)
        kind, payload, lines = worker.result()
        self._fill()
        for level, line in lines:
            logger.log(level, "%s", line)
        if kind != "ok":
            raise payload
        return [Spool.adopt(*part) for part in payload]

    def _fill(self) -> None:
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="source-kubecost-")
        self._workers = [w for w in self._workers if w.process.is_alive()]
        while self._queue:
            idle = [w for w in self._workers if w.day is None]
            if not idle and len(self._workers) < WORKERS:
                self._workers.append(_Worker(self._directory))
                continue
            if not idle:
                return
            assert self._reader is not None
            idle[0].start(self._reader, self._queue.pop(0))

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers, self._queue = [], []
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
