"""`source-kubecost`: the CDK's `launch`, with the day streams' records copied to stdout.

Serializing a record through the CDK (message objects, serpyco, orjson, counting, the print
buffer) costs about 20 µs, a second per 50,000-container day in the sync process. The day
workers already write each record as the exact RECORD line the CDK would (spool.py), so here
a finished day is copied to stdout as it is. Everything else goes through the CDK: slices,
state, stream statuses, logs, errors. The CDK's bookkeeping of records is kept true: record
counts on STATE messages (`sourceStats.recordCount`) and its "Read N records" log line.

In-process runs (the CDK's test harness, `entrypoint_wrapper`) do not go through here: the
day streams then yield their records to the CDK, with the same data.
"""

from __future__ import annotations

import logging
import re
import sys
from collections import Counter
from typing import Any

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import AirbyteMessage, Type
from airbyte_cdk.utils import message_utils

from source_kubecost.spool import Spool


class DirectOutput:
    """Copies finished spools to stdout after the messages before them, and counts them."""

    def __init__(self) -> None:
        self.pending: Counter[str] = Counter()  # records since the stream's last STATE
        self.total: Counter[str] = Counter()

    def write(self, spool: Spool) -> None:
        PRINT_BUFFER.flush()  # the CDK's messages so far go first
        out = sys.__stdout__.buffer  # type: ignore[union-attr]
        spool.copy_to(out)
        out.flush()
        self.pending[spool.stream] += spool.count
        self.total[spool.stream] += spool.count


DIRECT: DirectOutput | None = None  # set while `source-kubecost` runs


class _Entrypoint(AirbyteEntrypoint):
    def handle_record_counts(  # type: ignore[override]
        self, message: AirbyteMessage, stream_message_count: Any
    ) -> AirbyteMessage:
        if message.type == Type.STATE and DIRECT is not None:
            descriptor = message_utils.get_stream_descriptor(message)
            stream_message_count[descriptor] += DIRECT.pending.pop(descriptor.name, 0)
        return AirbyteEntrypoint.handle_record_counts(message, stream_message_count)


class _CountDirectRecords(logging.Filter):
    """Adds the records copied directly to the CDK's "Read N records from S stream"."""

    _READ = re.compile(r"Read (\d+) records from (\S+) stream")

    def filter(self, record: logging.LogRecord) -> bool:
        match = self._READ.fullmatch(record.getMessage())
        if match and DIRECT is not None and DIRECT.total[match[2]]:
            record.msg = (
                f"Read {int(match[1]) + DIRECT.total[match[2]]} records from {match[2]} stream"
            )
            record.args = ()
        return True


def launch(args: list[str]) -> None:
    """As `airbyte_cdk.entrypoint.launch`, with `DIRECT` set."""
    global DIRECT
    from source_kubecost.source import SourceKubecost  # its streams import this module

    entrypoint = _Entrypoint(SourceKubecost())
    entrypoint.logger.addFilter(_CountDirectRecords())
    parsed = entrypoint.parse_args(args)
    DIRECT = DirectOutput()
    with PRINT_BUFFER:
        for message in entrypoint.run(parsed):
            print(f"{message}\n", end="")
