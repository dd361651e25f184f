"""A day's records, finished as Airbyte RECORD lines in a temporary file.

Records are serialized as they are parsed (in a day worker, see prefetch.py), exactly as
the CDK would write them: `{"type":"RECORD","record":{"stream":..,"data":..,"emitted_at":..}}`
with the null fields of `data` left out. `source-kubecost` copies the file to stdout once
the day parsed completely (launch.py); in-process callers read the records back.

`extraction_records` (the records of the whole extraction) is known only once the day
parsed: lines are written with `UNCOUNTED` and the count is put in as they are read out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from typing import IO, Any

import orjson

_BATCH = 256  # lines per write
EXTRACTION_ID = "extraction_id"
EXTRACTION_RECORDS = "extraction_records"
UNCOUNTED = -1  # `extraction_records` until the day is counted
# Unique in a line: inside JSON strings every `"` is escaped, so `records":` cannot occur.
_UNCOUNTED = orjson.dumps({EXTRACTION_RECORDS: UNCOUNTED})[1:-1]


class Spool:
    """RECORD lines of one stream; `constants` are added to every record.

    Idle rows are the rows that repeat across the requests of one day (on every page, and in
    the listings of a split day): an idle row whose `unique` key is in this spool or in
    `earlier` is left out. Other rows are not tracked, so memory does not grow with the day
    (Kubecost answers a one-day, accumulated query with one set, whose keys are unique).

    A spool made in a day worker is a named file in `directory`, handed over to the sync
    process by path (`handover`, `adopt`).
    """

    directory: str | None = None  # set in a day worker

    def __init__(
        self,
        stream: str,
        unique: str,
        constants: Mapping[str, Any] | None = None,
        earlier: set[Any] | None = None,
    ) -> None:
        self.stream, self.unique = stream, unique
        self.constants = dict(constants or {})
        self.earlier = earlier if earlier is not None else set()
        self._head = b'{"type":"RECORD","record":{"stream":%s,"data":' % orjson.dumps(stream)
        self._file: IO[bytes] = (
            tempfile.NamedTemporaryFile(dir=self.directory, delete=False)  # noqa: SIM115
            if self.directory
            else tempfile.TemporaryFile()  # noqa: SIM115 - lives until read or closed
        )
        self.reset()

    def reset(self) -> None:
        """Empties the spool (a new attempt of the request that fills it)."""
        self._file.seek(0)
        self._file.truncate()
        self.count = self.idle = 0
        self.extraction_records: int | None = None  # set when the day is counted
        self.first: Any = None  # the first key that is not idle
        self.seen: set[Any] = set()  # idle keys
        self._lines: list[bytes] = []
        self._tail = b',"emitted_at":%d}}\n' % int(time.time() * 1000)

    def write(self, record: dict[str, Any]) -> None:
        """Adds `record` (changed in place: nulls out, constants in), unless it is an idle
        row already written."""
        key = record.get(self.unique)
        if record.get("is_idle") is True:
            if key in self.seen or key in self.earlier:
                return
            self.seen.add(key)
            self.idle += 1
        elif self.first is None:
            self.first = key
        self.count += 1
        for name in [k for k, v in record.items() if v is None]:
            del record[name]  # as the CDK's serializer does (top level only)
        record.update(self.constants)
        self._lines.append(self._head + orjson.dumps(record) + self._tail)
        if len(self._lines) == _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._lines:
            self._file.write(b"".join(self._lines))
            self._lines.clear()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The records (`data`), for callers that emit through the CDK."""
        self._flush()
        self._file.seek(0)
        for line in self._file:
            data = orjson.loads(line)["record"]["data"]
            if self.extraction_records is not None:
                data[EXTRACTION_RECORDS] = self.extraction_records
            yield data

    def copy_to(self, out: Any) -> None:
        """Writes the RECORD lines to `out`, with `extraction_records` once counted."""
        self._flush()
        self._file.seek(0)
        if self.extraction_records is None:
            shutil.copyfileobj(self._file, out, 1 << 20)
            return
        counted = orjson.dumps({EXTRACTION_RECORDS: self.extraction_records})[1:-1]
        while lines := self._file.readlines(1 << 20):
            out.write(b"".join(lines).replace(_UNCOUNTED, counted))

    def handover(self) -> tuple[str, str, int, int, Any]:
        self._flush()
        self._file.close()
        return self.stream, self._file.name, self.count, self.idle, self.first

    @classmethod
    def adopt(cls, stream: str, path: str, count: int, idle: int, first: Any) -> Spool:
        spool = cls.__new__(cls)
        spool.stream, spool.unique, spool.constants, spool.earlier = stream, "", {}, set()
        spool._file = open(path, "rb")  # noqa: SIM115
        os.unlink(path)
        spool.count, spool.idle, spool.first, spool.seen = count, idle, first, set()
        spool.extraction_records = None
        spool._lines = []
        return spool

    def close(self) -> None:
        self._file.close()
