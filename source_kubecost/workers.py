"""Day workers: days are read (fetched, parsed, serialized) in forked processes, ahead of the
sync.

Why: on a day of 50,000 containers, parsing (jsonstream.py), flattening and serializing
records take about a CPU-second, and importing the CDK another 1.2 s. So `source-kubecost
read` plans the days of its first day stream and forks `WORKERS` processes that start on them
*before* it imports the CDK (`begin`); the sync process then only copies finished days to
stdout (output.py). Parsing overlaps start-up, and days overlap each other.

A worker hands a finished day over as an open, unlinked file (its descriptor crosses the
pipe), so nothing is left in the temporary directory when a sync is killed. Its log lines
and its error come back through the pipe and are logged or raised when the day is due, so
state and error semantics are those of reading the days one after another. Linux/macOS only
(fork); elsewhere, or when `read_ahead` is off, days are read inline.
"""

from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from typing import Any

from source_kubecost.client import KubecostClient
from source_kubecost.config import parse_config
from source_kubecost.days import READERS, DayReader, StreamState, sync_days
from source_kubecost.errors import KubecostError
from source_kubecost.spool import Extraction

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


def _socket(connection: Connection) -> socket.socket:
    """The Unix socket under a duplex `Pipe`, to pass file descriptors."""
    return socket.fromfd(connection.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)


def _serve(jobs: Connection, parent: int) -> None:
    """A worker: reads the days it is sent, one at a time, until the sync closes the pipe."""
    _die_with(parent)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - stdout is the sync's
    collect = _Collect()
    for name in ("", "airbyte"):
        logging.getLogger(name).handlers = [collect]
    logger.propagate = False
    logging.disable(logging.NOTSET)  # forked while `begin` had logging off
    logger.setLevel(logging.DEBUG)  # the sync process logs what its level lets through
    files = _socket(jobs)
    while True:
        try:
            reader, day = jobs.recv()
        except EOFError:
            return
        collect.lines = []  # the client came with a session of its own (client.py)
        try:
            extraction = reader.read(day)
        except KubecostError as error:
            jobs.send(("error", error, collect.lines))
            continue
        except Exception as error:  # a bug: the day's system_error, with its traceback
            failure = KubecostError(
                f"Reading {reader.stream} for {day} failed unexpectedly: "
                f"{type(error).__name__}: {error}",
                traceback.format_exc(),
            )
            jobs.send(("error", failure, collect.lines))
            continue
        with extraction.file:
            jobs.send(("ok", extraction.records, collect.lines))
            socket.send_fds(files, [b"f"], [extraction.file.fileno()])


class _Worker:
    """A forked process and its pipe; `day` is the day it is reading."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self.jobs, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, os.getpid()), daemon=True)
        self.process.start()
        theirs.close()
        self.files = _socket(self.jobs)
        self.day: date | None = None
        self.stream = ""

    def start(self, reader: DayReader, day: date) -> None:
        self.jobs.send((reader, day))
        self.day, self.stream = day, reader.stream

    def result(self) -> Extraction:
        """The day's extraction, or its error raised, with the worker's logs logged first."""
        day, self.day = self.day, None
        assert day is not None
        try:
            kind, payload, lines = self.jobs.recv()
            if kind == "ok":
                _, [descriptor], _, _ = socket.recv_fds(self.files, 1, 1)
        except (EOFError, OSError, ValueError):
            self.process.join()
            raise KubecostError(
                f"The process reading {self.stream} for {day} died (out of memory?).",
                f"exit code {self.process.exitcode}",
            ) from None
        for level, line in lines:
            logger.log(level, "%s", line)
        if kind != "ok":
            raise payload
        return Extraction(self.stream, day, payload, os.fdopen(descriptor, "rb"))

    def stop(self) -> None:
        """Kills the process, whatever it is doing (what it read dies with it)."""
        self.files.close()
        self.jobs.close()
        self.process.kill()
        self.process.join()


class DayWorkers:
    """Days of one reader read ahead, in the expected order, by `count` forked processes.

    The workers live for the whole sync: `source-kubecost read` forks them before it imports
    the CDK (`begin`), so they stay small (about 45 MB each while parsing a day). Close the
    pool (or use it as a context manager) to stop them.
    """

    def __init__(self, count: int | None = None) -> None:
        self.count = WORKERS if count is None else count
        self._reader: DayReader | None = None
        self._queue: list[date] = []
        self._workers: list[_Worker] = []

    def expect(self, reader: DayReader, days: list[date]) -> None:
        """The days `reader` will take, in order; work started for anything else is dropped."""
        _ = reader.client.model_prefix  # detected once here, not in every worker
        keep = days if _same(reader, self._reader) else []
        self._reader = reader
        for worker in [w for w in self._workers if w.day is not None and w.day not in keep]:
            worker.stop()  # a new worker replaces it: waiting could take a slow day's time
            self._workers.remove(worker)
        running = {w.day for w in self._workers}
        self._queue = [d for d in days if d not in running]
        self._fill()

    def take(self, reader: DayReader, day: date) -> Extraction:
        """The day's extraction from its worker, or its error; a day not expected is read
        here."""
        worker = next((w for w in self._workers if w.day == day), None)
        if worker is None or not _same(reader, self._reader):
            return reader.read(day)
        try:
            return worker.result()
        finally:
            self._fill()

    def _fill(self) -> None:
        self._workers = [w for w in self._workers if w.process.is_alive()]
        while self._queue:
            idle = [w for w in self._workers if w.day is None]
            if not idle and len(self._workers) < self.count:
                self._workers.append(_Worker())
                continue
            if not idle:
                return
            assert self._reader is not None
            idle[0].start(self._reader, self._queue.pop(0))

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers, self._queue = [], []

    def __enter__(self) -> DayWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _same(one: DayReader | None, other: DayReader | None) -> bool:
    return one is other or (
        one is not None
        and other is not None
        and type(one) is type(other)
        and one.settings == other.settings
    )


def begin(argv: list[str], now: datetime | None = None) -> DayWorkers | None:
    """For `read`, day workers started on the first days of the catalog's first day stream,
    before the CDK is imported. A head start only: when the arguments cannot be read here,
    nothing starts and the sync reports the problem itself."""
    if not argv or argv[0] != "read" or not can_fork():
        return None
    level = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # the sync logs its own warnings and detection
    try:
        options = _options(argv[1:])
        settings = parse_config(_load(options["--config"]))
        configured = [
            s for s in _load(options["--catalog"])["streams"] if s["stream"]["name"] in READERS
        ]
        if not settings.read_ahead or not configured:
            return None
        name = configured[0]["stream"]["name"]
        state = StreamState()
        if configured[0].get("sync_mode") == "incremental" and "--state" in options:
            state = StreamState.parse(_stream_state(_load(options["--state"]), name))
        days = sync_days(settings, state, now or datetime.now(UTC), name)
        client = KubecostClient(settings)
        if settings.model_prefix is None:
            client.detect_prefix(attempts=1)  # no waiting here on a server that is down
        workers = DayWorkers()
        workers.expect(READERS[name](client, settings), days)
        return workers
    except (OSError, ValueError, KeyError, TypeError, AttributeError, KubecostError):
        return None  # unreadable files, JSON or catalog, a bad config, no API: said later
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
    """One stream's state from the protocol's list of state messages (or a legacy dict).

    The CDK parses the same file for the sync (ConnectorStateManager); this copy exists
    because it runs before the CDK is imported (DECISIONLOG.md)."""
    if isinstance(state, dict):
        return state.get(name)
    for message in state or []:
        stream = message.get("stream") or {}
        if stream.get("stream_descriptor", {}).get("name") == name:
            return stream.get("stream_state")
    return None
