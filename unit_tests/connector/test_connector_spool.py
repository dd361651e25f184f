"""Spools: records become exactly the RECORD lines the CDK would write, deduplicated."""

from __future__ import annotations

import io
import json

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.sources.utils.record_helper import stream_data_to_airbyte_message

from source_kubecost.spool import UNCOUNTED, Spool

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
    spool.copy_to(buffer)
    line = buffer.getvalue().decode()
    emitted_at = json.loads(line)["record"]["emitted_at"]
    message = stream_data_to_airbyte_message(
        "allocations", {**RECORD, "window_start": "2024-05-01T00:00:00Z"}
    )
    assert message.record is not None
    message.record.emitted_at = emitted_at
    assert line == AirbyteEntrypoint.airbyte_message_to_string(message) + "\n"
    assert "pvs" not in json.loads(line)["record"]["data"]  # top-level nulls left out, as the CDK


def test_given_idle_rows_seen_here_or_earlier_when_written_then_left_out() -> None:
    """Only idle rows repeat across the requests of a day; other rows are not tracked, so
    memory does not grow with the size of the day."""
    earlier = {"c1/__idle__"}
    spool = Spool("allocations", "name", {}, earlier)
    rows = [("c1/__idle__", True), ("a", False), ("c2/__idle__", True), ("c2/__idle__", True)]
    for name, idle in [*rows, ("b", False)]:
        spool.write({"name": name, "is_idle": idle})
    assert [r["name"] for r in spool] == ["a", "c2/__idle__", "b"]
    assert (spool.count, spool.idle, spool.first, spool.seen) == (3, 1, "a", {"c2/__idle__"})


def test_given_a_reset_when_rewritten_then_the_failed_attempt_is_gone() -> None:
    spool = Spool("assets", "key")
    spool.write({"key": "node-1", "is_idle": True})
    spool.reset()
    spool.write({"key": "node-2"})
    assert [r["key"] for r in spool] == ["node-2"]
    assert (spool.count, spool.idle) == (1, 0)


def test_given_a_handover_when_adopted_then_the_file_moves_with_its_counts(tmp_path) -> None:
    Spool.directory = str(tmp_path)
    try:
        spool = Spool("allocations", "name")
        spool.write({"name": "c1/__idle__", "is_idle": True})
        spool.write({"name": "a", "is_idle": False})
    finally:
        Spool.directory = None
    adopted = Spool.adopt(*spool.handover())
    counts = (adopted.stream, adopted.count, adopted.idle, adopted.first)
    assert counts == ("allocations", 2, 1, "a")
    assert [r["name"] for r in adopted] == ["c1/__idle__", "a"]
    assert list(tmp_path.iterdir()) == []  # unlinked once adopted: nothing left behind
    adopted.close()


def test_given_a_counted_day_when_read_out_then_every_record_carries_the_count() -> None:
    """`extraction_records` is written as UNCOUNTED and put in as the lines are read out,
    also where a label value spells the placeholder (inside a JSON string it cannot match)."""
    trap = '"extraction_records":-1'
    constants = {"extraction_id": "x", "extraction_records": UNCOUNTED}
    spool = Spool("allocations", "name", constants)
    for n in range(3000):  # more than one read-out chunk
        spool.write({"name": f"pod-{n}", "labels": {"trap": trap}, "is_idle": False})
    assert {r["extraction_records"] for r in spool} == {UNCOUNTED}
    spool.extraction_records = 12345
    buffer = io.BytesIO()
    spool.copy_to(buffer)
    copied = [json.loads(line)["record"]["data"] for line in buffer.getvalue().splitlines()]
    assert copied == list(spool)
    assert len(copied) == 3000
    assert {r["extraction_records"] for r in copied} == {12345}
    assert {r["labels"]["trap"] for r in copied} == {trap}
