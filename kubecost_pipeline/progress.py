"""Progress a person can follow on a terminal, and JSON lines a machine can read elsewhere.

    progress = Progress.for_stream(sys.stderr)
    progress.step("sync", "day 2026-11-03 fetched", days=3, rows=51234)

On a terminal each event is one readable line; otherwise (CI, cron, a pipe) it is one JSON
object per line with the same fields, so a scheduler can parse it. ``quiet`` silences both.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class Progress:
    stream: TextIO | None = sys.stderr
    human: bool = True
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def for_stream(cls, stream: TextIO | None = None, quiet: bool = False) -> Progress:
        stream = stream or sys.stderr
        if quiet:
            return cls(stream=None)
        return cls(stream=stream, human=stream.isatty())

    def step(self, stage: str, message: str, **fields: Any) -> None:
        if self.stream is None:
            return
        elapsed = round(time.monotonic() - self.started, 1)
        if self.human:
            details = " ".join(f"{key}={value}" for key, value in fields.items())
            line = f"[{elapsed:7.1f}s] {stage:<8} {message}" + (f"  ({details})" if details else "")
        else:
            line = json.dumps(
                {"elapsed_s": elapsed, "stage": stage, "message": message, **fields},
                default=str,
            )
        print(line, file=self.stream, flush=True)


QUIET = Progress(stream=None)
