"""Read-ahead: a forked child fetches a day; its spools, logs and errors come back in order."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_kubecost.client import KubecostClient, Spool
from source_kubecost.config import parse_config
from source_kubecost.read_ahead import ReadAhead

DAY = date(2024, 5, 1)


def _client() -> KubecostClient:
    return KubecostClient(
        parse_config(
            {"url": "http://kubecost.test", "flavour": "kubecost", "start_date": "2024-05-01"}
        )
    )


def _two_parts(day: date) -> list[Spool]:
    logging.getLogger("airbyte").warning("fetched %s in the child", day)
    parts = [Spool(), Spool()]
    parts[0].write({"name": "a", "day": day.isoformat()})
    parts[0].write({"name": "c1/__idle__", "is_idle": True})
    parts[1].write({"name": "b"})
    return parts


def _failing(day: date) -> list[Spool]:
    raise AirbyteTracedException(
        message=f"Kubecost failed on allocations for {day}",
        failure_type=FailureType.transient_error,
    )


def test_given_a_started_day_when_taken_then_the_childs_spools_and_logs(caplog) -> None:
    ahead = ReadAhead(_client(), _two_parts, enabled=True)
    ahead.start(DAY)
    with caplog.at_level(logging.INFO, logger="airbyte"):
        parts = ahead.take(DAY)
    assert [(p.count, p.idle, p.first) for p in parts] == [(2, 1, "a"), (1, 0, "b")]
    assert [r["name"] for p in parts for r in p] == ["a", "c1/__idle__", "b"]
    assert "fetched 2024-05-01 in the child" in caplog.text
    ahead.close()


def test_given_a_failing_day_when_taken_then_its_error_is_raised_here() -> None:
    ahead = ReadAhead(_client(), _failing, enabled=True)
    ahead.start(DAY)
    with pytest.raises(AirbyteTracedException) as raised:
        ahead.take(DAY)
    assert raised.value.message == "Kubecost failed on allocations for 2024-05-01"
    assert raised.value.failure_type == FailureType.transient_error
    ahead.close()


def test_given_read_ahead_off_when_taken_then_fetched_inline() -> None:
    ahead = ReadAhead(_client(), _two_parts, enabled=False)
    ahead.start(DAY)  # ignored
    parts = ahead.take(DAY)
    assert sum(p.count for p in parts) == 3
    for part in parts:
        part.close()
