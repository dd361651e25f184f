"""`source-kubecost`: the CDK's entrypoint, writing to one output with finished days copied in.

Serializing a record through the CDK (message objects, serpyco, orjson, counting, printing)
costs about 20 µs, a second per 50,000-container day in the sync process. The day readers
already write each record as the exact RECORD line the CDK would (spool.py), so a finished
day is copied to the output as it is (`DirectOutput`, the record sink the day streams are
given). Everything else goes through the CDK: slices, state, stream statuses, logs, errors.

One writer owns the output: the CDK's messages, its log lines (the root logger's handler is
ours while the sync runs) and the copied days, in the order they happen. The record counts
on STATE messages (`sourceStats.recordCount`) include the copied records; the day streams
log their own line with the records they copied.

In-process runs through the CDK's test harness (`entrypoint_wrapper`) construct
`SourceKubecost()` without a sink: the day streams then yield their records to the CDK.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from typing import TextIO

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import AirbyteLogFormatter

from source_kubecost.spool import Extraction
from source_kubecost.workers import DayWorkers, can_fork

_RECORD = '{"type":"RECORD"'


class DirectOutput:
    """The sync's output: the CDK's messages, with finished days copied in between them.

    The CDK counts the records it emits on each STATE message; the records copied here since
    the stream's previous STATE are added to that count.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.pending: Counter[str] = Counter()  # copied since the stream's last STATE

    def write(self, extraction: Extraction) -> None:
        """Copies a finished day after everything written before it."""
        self.out.flush()
        extraction.copy_to(self.out.buffer)
        self.pending[extraction.stream] += extraction.records

    def message(self, line: str) -> None:
        """Writes one of the CDK's serialized messages."""
        if self.pending and not line.startswith(_RECORD):
            message = orjson.loads(line)
            if message.get("type") == "STATE" and message["state"].get("type") == "STREAM":
                stream = message["state"]["stream"]["stream_descriptor"]["name"]
                stats = message["state"].setdefault("sourceStats", {})
                stats["recordCount"] = float(stats.get("recordCount") or 0) + self.pending.pop(
                    stream, 0
                )
                line = orjson.dumps(message).decode()
        self.out.write(line + "\n")


def launch(args: list[str], workers: DayWorkers | None = None, out: TextIO | None = None) -> None:
    """Runs one verb, writing every message to `out` (stdout); `workers` are day workers
    already started (`workers.begin`), else a pool is made when a stream needs it."""
    from source_kubecost.source import SourceKubecost

    out = out or sys.stdout
    if workers is None and can_fork():
        workers = DayWorkers()
    sink = DirectOutput(out)
    root = logging.getLogger()
    handlers = root.handlers[:]
    handler = logging.StreamHandler(out)
    handler.setFormatter(AirbyteLogFormatter())
    root.handlers = [handler]
    try:
        entrypoint = AirbyteEntrypoint(SourceKubecost(sink=sink, workers=workers))
        for message in entrypoint.run(entrypoint.parse_args(args)):
            sink.message(message)
    finally:
        out.flush()
        root.handlers = handlers
        if workers is not None:
            workers.close()
