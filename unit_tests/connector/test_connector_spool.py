"""Spools: records become exactly the RECORD lines the CDK would write, deduplicated; an
extraction is the counted lines of one reading of a day."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.sources.utils.record_helper import stream_data_to_airbyte_message

from source_kubecost.spool import UNCOUNTED, DuplicateKey, Extraction, Spool

RECORD = {
    "name": "c1/n1/ns/deployment:web/web-1/app",
    "cpuCost": 0.1,
    "ramCost": 3.0,
    "gpuCost": 1e-7,
    "pvs": None,
    "labels": {"app": "wéb", "empty": None},
    "services": ["web", None],
    "is_idle": False,
}


def test_given_a_record_when_spooled_then_the_line_is_the_cdks_serialization() -> None:
    spool = Spool("allocations", "name", {"window_start": "2024-05-01T00:00:00Z"})
    spool.write(dict(RECORD))
    buffer = io.BytesIO()
    spool.counted_to(buffer, UNCOUNTED)
    line = buffer.getvalue().decode()
    emitted_at = json.loads(line)["record"]["emitted_at"]
    message = stream_data_to_airbyte_message(
        "allocations", {**RECORD, "window_start": "2024-05-01T00:00:00Z"}
    )
    assert message.record is not None
    message.record.emitted_at = emitted_at
    assert line == AirbyteEntrypoint.airbyte_message_to_string(message) + "\n"
    assert "pvs" not in json.loads(line)["record"]["data"]  # top-level nulls left out, as the CDK


def test_given_idle_rows_seen_earlier_when_written_then_left_out() -> None:
    """Idle rows repeat across the requests of one day (pages, split listings)."""
    earlier = {"c1/__idle__"}
    spool = Spool("allocations", "name", {}, earlier)
    for name, idle in [("c1/__idle__", True), ("a", False), ("c2/__idle__", True), ("b", False)]:
        spool.write({"name": name, "is_idle": idle})
    assert [r["name"] for r in spool] == ["a", "c2/__idle__", "b"]
    assert (spool.count, spool.idle, spool.first, spool.seen) == (3, 1, "a", {"c2/__idle__"})


@pytest.mark.parametrize("idle", [False, True])
def test_given_a_key_twice_in_one_answer_when_written_then_duplicate_key(idle: bool) -> None:
    spool = Spool("allocations", "name")
    spool.write({"name": "c1/__idle__" if idle else "a", "is_idle": idle})
    with pytest.raises(DuplicateKey, match="appears twice in one answer"):
        spool.write({"name": "c1/__idle__" if idle else "a", "is_idle": idle})


def test_given_a_reset_when_rewritten_then_the_failed_attempt_is_gone() -> None:
    spool = Spool("assets", "key")
    spool.write({"key": "node-1", "is_idle": True})
    spool.reset()
    spool.write({"key": "node-1"})  # the failed attempt's keys are forgotten too
    assert [r["key"] for r in spool] == ["node-1"]
    assert (spool.count, spool.idle) == (1, 0)


def test_given_parts_of_a_day_when_finished_then_one_counted_file_and_parts_closed() -> None:
    """`extraction_records` is written as UNCOUNTED and put in when the day is finished,
    also where a label value spells the placeholder (inside a JSON string it cannot match)."""
    trap = '"extraction_records":-1'
    constants = {"extraction_id": "x", "extraction_records": UNCOUNTED}
    parts = [Spool("allocations", "name", constants) for _ in range(2)]
    for n in range(3000):  # more than one read-out chunk (1 MiB) per part
        labels = {"trap": trap, "long": "x" * (1_500_000 if n == 7 else 900)}  # a chunk in a line
        parts[n % 2].write({"name": f"pod-{n}", "labels": labels, "is_idle": False})
    assert {r["extraction_records"] for r in parts[0]} == {UNCOUNTED}
    extraction = Extraction.of("allocations", date(2024, 5, 1), parts)
    assert all(part._file.closed for part in parts)
    buffer = io.BytesIO()
    extraction.copy_to(buffer)  # no file descriptor: copied
    copied = [json.loads(line)["record"]["data"] for line in buffer.getvalue().splitlines()]
    assert copied == list(extraction)
    assert len(copied) == extraction.records == 3000
    assert {r["extraction_records"] for r in copied} == {3000}
    assert {r["labels"]["trap"] for r in copied} == {trap}


def test_given_a_file_output_when_copied_then_sendfile_writes_after_what_was_buffered(
    tmp_path,
) -> None:
    spool = Spool("assets", "key", {"extraction_records": UNCOUNTED})
    spool.write({"key": "node-1"})
    extraction = Extraction.of("assets", date(2024, 5, 1), [spool])
    with open(tmp_path / "out", "wb") as out:
        out.write(b"before\n")  # buffered, flushed first
        extraction.copy_to(out)
        extraction.copy_to(out)
        out.write(b"after\n")
    lines = (tmp_path / "out").read_bytes().splitlines()
    assert lines[0] == b"before" and lines[-1] == b"after"
    assert [json.loads(line)["record"]["data"]["key"] for line in lines[1:-1]] == ["node-1"] * 2
