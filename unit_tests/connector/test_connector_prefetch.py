"""Day workers: forked processes fetch days ahead; their spools, logs and errors come back in
order, and `source-kubecost read` starts the first days before the CDK is imported."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from source_kubecost import prefetch
from source_kubecost.client import KubecostClient
from source_kubecost.config import parse_config
from source_kubecost.days import AllocationDays, DayReader
from source_kubecost.errors import TRANSIENT, KubecostError
from source_kubecost.spool import Spool

DAY = date(2024, 5, 1)
CONFIG = {"url": "http://kubecost.test", "flavour": "kubecost", "start_date": "2024-05-01"}


class _Reader(DayReader):
    stream = "allocations"

    def __init__(self, behaviour: str = "ok", **config: Any) -> None:
        settings = parse_config({**CONFIG, **config})
        super().__init__(KubecostClient(settings), settings)
        self.behaviour = behaviour

    def fetch(self, day: date) -> list[Spool]:
        logging.getLogger("airbyte").warning("fetched %s in pid %d", day, os.getpid())
        if self.behaviour == "fail":
            raise KubecostError(f"Kubecost failed on allocations for {day}", "503", TRANSIENT)
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


def _running(pool: prefetch.Prefetch) -> list[date]:
    return sorted(w.day for w in pool._workers if w.day)


@pytest.fixture
def pool():
    pool = prefetch.Prefetch()
    yield pool
    pool.close()


def test_given_expected_days_when_taken_then_the_workers_spools_and_logs(pool, caplog) -> None:
    reader = _Reader()
    pool.expect(reader, [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)])
    assert _running(pool) == [DAY, DAY + timedelta(days=1)]  # WORKERS in flight
    with caplog.at_level(logging.INFO, logger="airbyte"):
        parts = pool.take(reader, DAY)
    assert [(p.count, p.idle, p.first) for p in parts] == [(2, 1, "a"), (1, 0, "b")]
    assert [r["name"] for p in parts for r in p] == ["a", "c1/__idle__", "b"]
    assert [r["window_start"] for p in parts for r in p] == ["2024-05-01T00:00:00Z"] * 3
    [line] = [r.getMessage() for r in caplog.records if "fetched" in r.getMessage()]
    assert line.startswith("fetched 2024-05-01 in pid ")
    assert int(line.rsplit(" ", 1)[1]) != os.getpid()  # fetched in a worker
    assert _running(pool) == [DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert len(pool._workers) == prefetch.WORKERS  # the same processes take the next days


def test_given_a_failing_day_when_taken_then_its_error_is_raised_here(pool) -> None:
    reader = _Reader("fail")
    pool.expect(reader, [DAY])
    with pytest.raises(KubecostError) as raised:
        pool.take(reader, DAY)
    assert raised.value.message == "Kubecost failed on allocations for 2024-05-01"
    assert (raised.value.internal_message, raised.value.failure_type) == ("503", TRANSIENT)


def test_given_a_worker_that_dies_when_taken_then_the_error_names_the_day(pool) -> None:
    reader = _Reader("die")
    pool.expect(reader, [DAY])
    with pytest.raises(KubecostError, match="reading allocations for 2024-05-01 died"):
        pool.take(reader, DAY)
    pool.expect(_Reader(), [DAY])  # a new worker replaces the dead one
    assert [r["name"] for p in pool.take(_Reader(), DAY) for r in p] == ["a", "c1/__idle__", "b"]


def test_given_a_day_not_expected_when_taken_then_it_is_read_here(pool, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="airbyte"):
        parts = pool.take(_Reader(), DAY)
    assert sum(p.count for p in parts) == 3 and not pool._workers
    assert f"in pid {os.getpid()}" in caplog.text


def test_given_other_days_or_settings_when_expected_then_unexpected_work_is_dropped(pool) -> None:
    reader = _Reader()
    pool.expect(reader, [DAY, DAY + timedelta(days=1)])
    kept, dropped = sorted(pool._workers, key=lambda w: w.day)
    pool.expect(_Reader(), [DAY, DAY + timedelta(days=5)])  # equal settings: DAY is kept
    assert _running(pool) == [DAY, DAY + timedelta(days=5)] and kept in pool._workers
    assert not dropped.process.is_alive() and not os.path.exists(dropped.directory)
    other = _Reader(lookback_days=1)
    pool.expect(other, [DAY + timedelta(days=9)])  # other settings: everything dropped
    assert _running(pool) == [DAY + timedelta(days=9)] and kept not in pool._workers
    assert [r["window_start"][:10] for p in pool.take(other, DAY + timedelta(days=9)) for r in p]
    assert all(os.listdir(w.directory) == [] for w in pool._workers)  # adopted: unlinked


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
def shared(monkeypatch):
    pool = prefetch.Prefetch()
    monkeypatch.setattr(prefetch, "_shared", pool)
    monkeypatch.setattr(prefetch, "WORKERS", 0)  # plan only: nothing is forked
    yield pool
    pool.close()


def test_given_read_args_when_begun_then_the_first_day_streams_days_are_planned(
    tmp_path: Path, shared
) -> None:
    state = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "allocations"},
                "stream_state": {"window_start": "2024-05-10T00:00:00Z"},
            },
        }
    ]
    config = {**CONFIG, "lookback_days": 2, "end_date": "2024-05-13"}
    prefetch.begin(
        _read_args(tmp_path, config, ["clusters", "allocations", "assets"], state),
        now=datetime(2024, 6, 1, tzinfo=UTC),
    )
    assert isinstance(shared._reader, AllocationDays)
    assert shared._queue == [date(2024, 5, n) for n in (9, 10, 11, 12, 13)]


@pytest.mark.parametrize(
    "argv_change",
    [
        pytest.param(lambda args: ["check", *args[1:3]], id="not a read"),
        pytest.param(lambda args: [*args[:2], "/does/not/exist", *args[3:]], id="no config"),
    ],
)
def test_given_no_read_or_bad_input_when_begun_then_nothing_starts(
    tmp_path: Path, shared, argv_change
) -> None:
    prefetch.begin(argv_change(_read_args(tmp_path, CONFIG, ["allocations"])))
    assert shared._reader is None and not shared._queue and not shared._workers


def test_given_read_ahead_off_or_no_day_stream_when_begun_then_nothing_starts(
    tmp_path: Path, shared
) -> None:
    prefetch.begin(_read_args(tmp_path, {**CONFIG, "read_ahead": False}, ["allocations"]))
    prefetch.begin(_read_args(tmp_path, CONFIG, ["clusters"]))
    assert shared._reader is None
