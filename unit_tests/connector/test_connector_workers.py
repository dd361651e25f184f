"""Day workers: forked processes read days ahead; their extractions (as open, unlinked files),
logs and errors come back in order, and `source-kubecost read` starts the first days before
the CDK is imported."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from source_kubecost import workers
from source_kubecost.client import KubecostClient
from source_kubecost.config import parse_config
from source_kubecost.days import AllocationDays, DayReader
from source_kubecost.errors import TRANSIENT, KubecostError, RetriesExhausted, Transient
from source_kubecost.spool import Spool

DAY = date(2024, 5, 1)
CONFIG = {"url": "http://kubecost.test", "flavour": "kubecost", "start_date": "2024-05-01"}


class _Reader(DayReader):
    stream = "allocations"

    def __init__(self, behaviour: str = "ok", **config: Any) -> None:
        settings = parse_config({**CONFIG, **config})
        super().__init__(KubecostClient(settings), settings)
        self.behaviour = behaviour

    def extract(self, day: date) -> list[Spool]:
        logging.getLogger("airbyte").warning("fetched %s in pid %d", day, os.getpid())
        if self.behaviour == "fail":
            raise RetriesExhausted(f"Kubecost failed on allocations for {day}", Transient("503"))
        if self.behaviour == "bug":
            raise ZeroDivisionError("a bug")
        if self.behaviour == "die":
            os._exit(3)
        earlier: set[Any] = set()
        parts = [self.spool(day, earlier), self.spool(day, earlier)]
        parts[0].write({"name": "a", "totalCost": 1.5})
        parts[0].write({"name": "c1/__idle__", "is_idle": True})
        earlier |= parts[0].seen
        parts[1].write({"name": "c1/__idle__", "is_idle": True})  # deduplicated
        parts[1].write({"name": "b"})
        return parts


def _running(pool: workers.DayWorkers) -> list[date]:
    return sorted(w.day for w in pool._workers if w.day)


@pytest.fixture
def pool():
    with workers.DayWorkers() as pool:
        yield pool


def _names(extraction) -> list[str]:
    return [record["name"] for record in extraction]


def test_given_expected_days_when_taken_then_the_workers_extractions_and_logs(
    pool, caplog, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # forked after: the workers' too
    reader = _Reader()
    pool.expect(reader, [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)])
    assert _running(pool) == [DAY, DAY + timedelta(days=1)]  # WORKERS in flight
    with caplog.at_level(logging.INFO, logger="airbyte"):
        extraction = pool.take(reader, DAY)
    assert (extraction.stream, extraction.day, extraction.records) == ("allocations", DAY, 3)
    assert _names(extraction) == ["a", "c1/__idle__", "b"]
    assert {r["window_start"] for r in extraction} == {"2024-05-01T00:00:00Z"}
    assert {r["extraction_records"] for r in extraction} == {3}  # counted in the worker
    [line] = [r.getMessage() for r in caplog.records if "fetched" in r.getMessage()]
    assert line.startswith("fetched 2024-05-01 in pid ")
    assert int(line.rsplit(" ", 1)[1]) != os.getpid()  # read in a worker
    assert _running(pool) == [DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert len(pool._workers) == workers.WORKERS  # the same processes take the next days
    assert list(tmp_path.iterdir()) == []  # open files only: nothing to leave behind
    extraction.close()


def test_given_a_failing_day_when_taken_then_its_error_is_raised_here(pool) -> None:
    reader = _Reader("fail")
    pool.expect(reader, [DAY])
    with pytest.raises(RetriesExhausted) as raised:
        pool.take(reader, DAY)
    assert raised.value.message == "Kubecost failed on allocations for 2024-05-01"
    assert raised.value.failure_type == TRANSIENT and raised.value.last.cause == "503"


def test_given_a_bug_in_a_worker_when_taken_then_a_system_error_with_its_traceback(pool) -> None:
    reader = _Reader("bug")
    pool.expect(reader, [DAY])
    with pytest.raises(KubecostError, match="failed unexpectedly: ZeroDivisionError") as raised:
        pool.take(reader, DAY)
    assert raised.value.failure_type == "system_error"
    assert 'raise ZeroDivisionError("a bug")' in (raised.value.internal_message or "")


def test_given_a_worker_that_dies_when_taken_then_the_error_names_the_day(pool) -> None:
    reader = _Reader("die")
    pool.expect(reader, [DAY])
    with pytest.raises(KubecostError, match="reading allocations for 2024-05-01 died"):
        pool.take(reader, DAY)
    pool.expect(_Reader(), [DAY])  # a new worker replaces the dead one
    assert _names(pool.take(_Reader(), DAY)) == ["a", "c1/__idle__", "b"]


def test_given_a_day_not_expected_when_taken_then_it_is_read_here(pool, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="airbyte"):
        extraction = pool.take(_Reader(), DAY)
    assert extraction.records == 3 and not pool._workers
    assert f"in pid {os.getpid()}" in caplog.text


def test_given_other_days_or_settings_when_expected_then_unexpected_work_is_dropped(pool) -> None:
    reader = _Reader()
    pool.expect(reader, [DAY, DAY + timedelta(days=1)])
    kept, dropped = sorted(pool._workers, key=lambda w: w.day)
    pool.expect(_Reader(), [DAY, DAY + timedelta(days=5)])  # equal settings: DAY is kept
    assert _running(pool) == [DAY, DAY + timedelta(days=5)] and kept in pool._workers
    assert not dropped.process.is_alive()
    other = _Reader(lookback_days=1)
    pool.expect(other, [DAY + timedelta(days=9)])  # other settings: everything dropped
    assert _running(pool) == [DAY + timedelta(days=9)] and kept not in pool._workers
    assert {r["window_start"][:10] for r in pool.take(other, DAY + timedelta(days=9))} == {
        "2024-05-10"
    }


def _read_args(tmp_path: Path, config: dict, streams: list[str], state: Any = None) -> list[str]:
    catalog = {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["incremental"],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
            for name in streams
        ]
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    args = ["read", "--config", str(tmp_path / "config.json"), f"--catalog={tmp_path}/catalog.json"]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp_path / "state.json")]
    return args


@pytest.fixture
def planned(monkeypatch):
    """`begin`'s pool, planning only: nothing is forked."""
    started: list[workers.DayWorkers] = []
    monkeypatch.setattr(workers, "WORKERS", 0)

    def begin(*args: Any, **kwargs: Any) -> workers.DayWorkers | None:
        pool = workers.begin(*args, **kwargs)
        if pool is not None:
            started.append(pool)
        return pool

    yield begin
    for pool in started:
        pool.close()


def test_given_read_args_when_begun_then_the_first_day_streams_days_are_planned(
    tmp_path: Path, planned
) -> None:
    state = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "allocations"},
                "stream_state": {
                    "window_start": "2024-05-10T00:00:00Z",
                    "empty_days": ["2024-05-03"],
                },
            },
        }
    ]
    config = {**CONFIG, "lookback_days": 2, "end_date": "2024-05-13"}
    pool = planned(
        _read_args(tmp_path, config, ["clusters", "allocations", "assets"], state),
        now=datetime(2024, 5, 15, tzinfo=UTC),
    )
    assert isinstance(pool._reader, AllocationDays)
    assert pool._queue == [date(2024, 5, n) for n in (3, 9, 10, 11, 12, 13)]


@pytest.mark.parametrize(
    "argv_change",
    [
        pytest.param(lambda args: ["check", *args[1:3]], id="not a read"),
        pytest.param(lambda args: [*args[:2], "/does/not/exist", *args[3:]], id="no config"),
        pytest.param(lambda args: [*args[:3], "--catalog", "/does/not/exist"], id="no catalog"),
    ],
)
def test_given_no_read_or_bad_input_when_begun_then_nothing_starts(
    tmp_path: Path, planned, argv_change
) -> None:
    assert planned(argv_change(_read_args(tmp_path, CONFIG, ["allocations"]))) is None


def test_given_read_ahead_off_or_no_day_stream_when_begun_then_nothing_starts(
    tmp_path: Path, planned
) -> None:
    assert planned(_read_args(tmp_path, {**CONFIG, "read_ahead": False}, ["allocations"])) is None
    assert planned(_read_args(tmp_path, CONFIG, ["clusters"])) is None
