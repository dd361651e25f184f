"""One test per behaviour of airbyte-cdk (pinned to 7.39.1) that source_kubecost relies on
beyond its documented API. Each fails loudly, naming what changed, when an upgrade changes it;
fix the connector (output.py, streams.py, source.py) before moving the pin.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterable, Mapping, MutableMapping
from importlib.metadata import version
from typing import Any

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteStreamStatus, SyncMode
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import CheckpointMixin, Stream
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.state_builder import StateBuilder
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message

PINNED = "7.39.1"


class _Days(Stream, CheckpointMixin):
    """Three slices; records only from slice 1; a RUNNING status of its own when asked."""

    primary_key = "n"
    cursor_field = "n"
    name = "days"  # type: ignore[assignment]

    def __init__(self, own_running: bool = False, records: bool = True) -> None:
        super().__init__()
        self.own_running, self.records = own_running, records
        self.seen_state: Any = None
        self._state: dict[str, Any] = {}

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self.seen_state = dict(value)
        self._state = dict(value)

    def stream_slices(self, **kwargs: Any) -> Iterable[Mapping[str, Any] | None]:
        for n in range(3):
            yield {"n": n}
        logging.getLogger("airbyte").info("slices done")

    def read_records(
        self, sync_mode: SyncMode, stream_slice: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Iterable[Any]:
        n = (stream_slice or {})["n"]
        if self.own_running and n == 0:
            yield as_airbyte_message(self.as_airbyte_stream(), AirbyteStreamStatus.RUNNING)
        if n == 1 and self.records:
            yield {"n": 1}
            yield {"n": 2}
        self._state = {"n": n}

    def get_json_schema(self) -> Mapping[str, Any]:
        return {"type": "object", "properties": {"n": {"type": "integer"}}}


class _Source(AbstractSource):
    def __init__(self, stream: _Days) -> None:
        super().__init__()
        self.stream = stream

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> Any:
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        return [self.stream]

    def spec(self, logger: logging.Logger) -> Any:
        from airbyte_cdk.models import ConnectorSpecification

        return ConnectorSpecification(connectionSpecification={"type": "object"})


def _read(stream: _Days, state: dict | None = None):
    catalog = CatalogBuilder().with_stream("days", SyncMode.incremental).build()
    states = StateBuilder().with_stream_state("days", state).build() if state else None
    return read(_Source(stream), {}, catalog, states)


def test_the_cdk_is_the_pinned_version() -> None:
    assert version("airbyte-cdk") == PINNED, (
        "airbyte-cdk changed: check every test of this file against the new version"
    )


def test_state_record_counts_count_only_records_the_cdk_emitted_since_the_last_state() -> None:
    """output.DirectOutput adds the records it copied to `sourceStats.recordCount`."""
    output = _read(_Days())
    counts = [m.state.sourceStats.recordCount for m in output.state_messages]
    assert counts[:3] == [0.0, 2.0, 0.0], "recordCount no longer counts per STATE interval"


def test_the_cdk_marks_running_at_its_first_record_and_passes_a_streams_own_status() -> None:
    """streams.DayStream yields RUNNING before its first copied day: the CDK sees none of
    those records, so it adds no RUNNING of its own."""
    cdk = [s.name for s in _read(_Days()).get_stream_statuses("days")]
    own = [
        s.name for s in _read(_Days(own_running=True, records=False)).get_stream_statuses("days")
    ]
    assert cdk == own == ["STARTED", "RUNNING", "COMPLETE"], (cdk, own)


def test_checkpoint_streams_get_the_incoming_state_and_their_state_after_each_slice() -> None:
    """streams.DayStream parses its state in the setter and dumps it in the getter."""
    stream = _Days()
    output = _read(stream, state={"n": 0, "empty_days": ["2024-05-01"]})
    assert stream.seen_state == {"n": 0, "empty_days": ["2024-05-01"]}
    assert [m.state.stream.stream_state.n for m in output.state_messages][:3] == [0, 1, 2]


def test_slices_are_drawn_lazily_so_a_line_after_the_last_slice_precedes_the_cdks_summary() -> None:
    """streams.DayStream logs its copied records after its last slice."""
    logs = [m.log.message for m in _read(_Days()).logs]
    assert logs.index("slices done") < logs.index("Read 2 records from days stream")


def test_the_entrypoint_logs_through_the_root_logger_and_yields_serialized_messages() -> None:
    """output.launch replaces the root logger's handlers with its own, writing to the output
    the messages `run` yields as strings, in order."""
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    root = logging.getLogger()
    saved, root.handlers = root.handlers[:], [handler]
    try:
        entrypoint = AirbyteEntrypoint(_Source(_Days()))  # logs the MemoryMonitor line
        messages = list(entrypoint.run(entrypoint.parse_args(["spec"])))
    finally:
        root.handlers = saved
    assert "MemoryMonitor" in captured.getvalue(), "the CDK no longer logs via the root logger"
    assert all(isinstance(m, str) for m in messages)
    assert json.loads(messages[-1])["type"] == "SPEC"


def test_the_default_configure_writes_the_config_with_its_secrets_to_the_temp_dir(
    tmp_path,
) -> None:
    """source.SourceKubecost.configure overrides this so that a killed sync leaves no token
    in the temporary directory."""
    _Source(_Days()).configure({"token": "s3cr3t"}, str(tmp_path))
    assert os.listdir(tmp_path) == ["config.json"]
    assert "s3cr3t" in (tmp_path / "config.json").read_text()
