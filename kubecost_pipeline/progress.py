"""What `kubecost-pipeline` writes on stderr, in one format: progress a person can follow on a
terminal, JSON lines a machine can read elsewhere.

    progress = Progress.for_stream(sys.stderr)
    progress.step("sync", "day 2026-11-03 fetched", days=3, rows=51234)
    logging.basicConfig(handlers=[progress.log_handler()])   # log records look the same

On a terminal each event is one readable line; otherwise (CI, cron, a pipe) it is one JSON
object per line with the same fields, so a scheduler can parse it. Log records (the rooms'
logs, the connector's, errors) are events too, with a ``level``. ``quiet`` silences the
progress steps, not the log records. Each event is written whole in one call under a lock, so
threads (dbt runs models in several) never share a line. Nothing here writes ANSI colour codes.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

# The stage a room's log records appear under: the command that runs the room.
STAGES = {
    "landing": "sync",
    "transform": "dbt",
    "post_sync": "project",
    "simulator": "simulate",
    "chain": "run",
    "chain_cli": "run",
}


@dataclass
class Progress:
    stream: TextIO | None = field(default_factory=lambda: sys.stderr)  # None: write nothing
    human: bool = True
    steps: bool = True  # False (--quiet): log records only
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def for_stream(cls, stream: TextIO | None = None, quiet: bool = False) -> Progress:
        stream = stream or sys.stderr
        return cls(stream=stream, human=stream.isatty(), steps=not quiet)

    def step(self, stage: str, message: str, **fields: Any) -> None:
        """One progress event (unless quiet)."""
        if self.steps:
            self.write(stage, message, fields)

    def write(self, stage: str, message: str, fields: dict[str, Any]) -> None:
        if self.stream is None:
            return
        elapsed = round(time.monotonic() - self.started, 1)
        if self.human:
            level = fields.pop("level", "info")
            details = " ".join(f"{key}={value}" for key, value in fields.items())
            text = message if level == "info" else f"{level}: {message}"
            line = f"[{elapsed:7.1f}s] {stage:<8} {text}" + (f"  ({details})" if details else "")
        else:
            line = json.dumps(
                {"elapsed_s": elapsed, "stage": stage, "message": message, **fields},
                default=str,
            )
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def log_handler(self) -> logging.Handler:
        """A logging handler writing records as events of this progress."""
        return _ProgressHandler(self)


class _ProgressHandler(logging.Handler):
    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            self.progress.write(stage_of(record.name), message, {"level": record.levelname.lower()})
        except Exception:  # logging's contract: report a broken record, never raise
            self.handleError(record)


def stage_of(logger: str) -> str:
    """``kubecost_pipeline.landing.source`` -> ``sync``; other libraries by their name."""
    parts = logger.split(".")
    room = parts[1] if parts[0] == "kubecost_pipeline" and len(parts) > 1 else parts[0]
    return STAGES.get(room, room)


QUIET = Progress(stream=None)
