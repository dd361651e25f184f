"""A day's records, finished as Airbyte RECORD lines in unnamed temporary files.

Records are serialized as they are parsed (in a day worker, see workers.py), exactly as the
CDK would write them: `{"type":"RECORD","record":{"stream":..,"data":..,"emitted_at":..}}`
with the null fields of `data` left out. A `Spool` holds the answer to one request; the
spools of one reading of a day become one `Extraction` once the whole day parsed, and
`source-kubecost` copies that file to stdout as it is (output.py).

`extraction_records` (the records of the whole reading) is known only once the day parsed:
lines are written with `UNCOUNTED`, and the count is put in when the extraction is finished.

Files are unlinked from the start (`TemporaryFile`), and a day worker hands its file to the
sync process as an open descriptor: a killed sync leaves nothing in the temporary directory.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import date
from itertools import compress, repeat
from operator import is_
from typing import IO, Any

import orjson

_BATCH = 256  # lines per write
_CHUNK = 1 << 20  # bytes per read when lines are copied
EXTRACTION_ID = "extraction_id"
EXTRACTION_RECORDS = "extraction_records"
UNCOUNTED = -1  # `extraction_records` until the day is counted
# Unique in a line: inside JSON strings every `"` is escaped, so `records":` cannot occur.
_UNCOUNTED = orjson.dumps({EXTRACTION_RECORDS: UNCOUNTED})[1:-1]
_NONE = repeat(None)  # compared with every value of a record: the loop stays in C


class DuplicateKey(ValueError):
    """One answer holds the same key twice."""


class Spool:
    """RECORD lines of one stream from one request; `constants` are added to every record.

    Keys are unique in one answer (a duplicate raises `DuplicateKey`, whatever the size of
    the body). Idle rows repeat across the requests of one day (on every page, and in the
    listings of a split day): an idle row whose `unique` key is in `earlier` is left out.
    """

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
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives until closed
        self.reset()

    def reset(self) -> None:
        """Empties the spool (a new attempt of the request that fills it)."""
        self._file.seek(0)
        self._file.truncate()
        self.count = self.idle = 0
        self.first: Any = None  # the first key that is not idle
        self.keys: set[Any] = set()  # every key of this answer
        self.seen: set[Any] = set()  # its idle keys
        self._lines: list[bytes] = []
        self._tail = b',"emitted_at":%d}}\n' % int(time.time() * 1000)

    def write(self, record: dict[str, Any]) -> None:
        """Adds `record` (changed in place: nulls out, constants in), unless it is an idle
        row written by an earlier request of the day."""
        key = record.get(self.unique)
        if key in self.keys:
            raise DuplicateKey(f"{self.unique} {key!r} appears twice in one answer")
        self.keys.add(key)
        if record.get("is_idle") is True:
            if key in self.earlier:
                return
            self.seen.add(key)
            self.idle += 1
        elif self.first is None:
            self.first = key
        self.count += 1
        for name in list(compress(record, map(is_, record.values(), _NONE))):
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
        """The records (`data`) written so far."""
        self._flush()
        self._file.seek(0)
        for line in self._file:
            yield orjson.loads(line)["record"]["data"]
        self._file.seek(0, os.SEEK_END)

    def counted_to(self, out: IO[bytes], records: int) -> None:
        """Writes the lines to `out` with `extraction_records` set to `records`."""
        self._flush()
        self._file.seek(0)
        counted = orjson.dumps({EXTRACTION_RECORDS: records})[1:-1]
        rest = b""
        while chunk := self._file.read(_CHUNK):
            chunk = rest + chunk
            whole = chunk.rfind(b"\n") + 1  # whole lines: the placeholder is inside one
            out.write(chunk[:whole].replace(_UNCOUNTED, counted))
            rest = chunk[whole:]
        out.write(rest.replace(_UNCOUNTED, counted))

    def close(self) -> None:
        self._file.close()


class Extraction:
    """One reading of one day of a stream, finished: `records` RECORD lines in `file`."""

    def __init__(self, stream: str, day: date, records: int, file: IO[bytes]) -> None:
        self.stream, self.day, self.records, self.file = stream, day, records, file

    @classmethod
    def of(cls, stream: str, day: date, parts: list[Spool]) -> Extraction:
        """The parts of one reading as one file, each record counted; the parts are closed."""
        records = sum(part.count for part in parts)
        file = tempfile.TemporaryFile()  # noqa: SIM115 - lives until closed
        try:
            for part in parts:
                part.counted_to(file, records)
            file.flush()
        except BaseException:
            file.close()
            raise
        finally:
            for part in parts:
                part.close()
        return cls(stream, day, records, file)

    def copy_to(self, out: IO[bytes]) -> None:
        """Writes the RECORD lines to `out` (flushed), by `sendfile` where the OS can."""
        out.flush()
        size = os.fstat(self.file.fileno()).st_size
        offset = 0
        try:
            target = out.fileno()
            while offset < size:
                sent = os.sendfile(target, self.file.fileno(), offset, size - offset)
                if not sent:
                    break
                offset += sent
        except (AttributeError, OSError) as error:  # io.UnsupportedOperation is an OSError
            if getattr(error, "errno", None) not in (None, errno.EINVAL, errno.ENOSYS):
                raise  # e.g. a closed pipe
        if offset < size:
            self.file.seek(offset)
            shutil.copyfileobj(self.file, out, _CHUNK)
            out.flush()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The records (`data`), for callers that emit through the CDK."""
        self.file.seek(0)
        for line in self.file:
            yield orjson.loads(line)["record"]["data"]

    def close(self) -> None:
        self.file.close()
