"""The real connector (`source-kubecost`) against the Kubecost simulator, landed into chDB,
then read by the dbt project's staging models in the same process."""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import clickhouse_connect
import pytest

from kubecost_pipeline.landing import sync
from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer
from kubecost_pipeline.transform import build

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def landed(chdb_url):
    """Two syncs: 2026-11-01..03, then up to 11-04 with one lookback day re-read."""
    database = f"landing_real_{secrets.token_hex(4)}"
    fleet = Fleet(FleetSpec(seed=3, clusters=2, start=date(2026, 11, 1), days=10))
    config = {
        "start_date": "2026-11-01",
        "end_date": "2026-11-03",
        "granularity": "namespace",
        "lookback_days": 1,
    }
    with SimulatorServer(fleet, now=datetime(2026, 11, 6, 12, tzinfo=UTC)) as server:
        config["url"] = server.base_url
        first = sync(config, chdb_url, database)
        second = sync({**config, "end_date": "2026-11-04"}, chdb_url, database)
    client = clickhouse_connect.get_client(dsn=chdb_url)
    yield fleet, database, client, (first, second)
    client.command(f"DROP DATABASE IF EXISTS `{database}`")
    client.close()


def test_given_two_syncs_then_states_advance_and_the_lookback_day_lands_twice(landed):
    _, database, client, (first, second) = landed

    assert first.streams["allocations"].state == {"window_start": "2026-11-03T00:00:00Z"}
    assert second.streams["allocations"].state == {"window_start": "2026-11-04T00:00:00Z"}
    assert second.sync_id == first.sync_id + 1
    per_day = client.query(
        "SELECT toDate(window_start), count(), uniqExact(name) "
        "FROM {db:Identifier}.allocations GROUP BY window_start ORDER BY window_start",
        parameters={"db": database},
    ).result_rows
    doubled = [day for day, rows, keys in per_day if rows == 2 * keys]
    assert doubled == [date(2026, 11, 3)]  # re-read once ...
    final = client.query(
        "SELECT count() FROM {db:Identifier}.allocations FINAL", parameters={"db": database}
    ).result_rows
    assert final == [(sum(keys for _, _, keys in per_day),)]  # ... collapsed by the engine
    assert client.query(
        "SELECT count() FROM {db:Identifier}.clusters", parameters={"db": database}
    ).result_rows == [(2,)]


def test_given_landed_allocations_then_non_idle_costs_match_the_fleet_truth(landed):
    fleet, database, client, _ = landed
    rows = client.query(
        "SELECT toDate(window_start), name, totalCost FROM {db:Identifier}.allocations FINAL "
        "WHERE NOT is_idle",
        parameters={"db": database},
    ).result_rows
    landed_costs: dict[date, dict[tuple[str, ...], Decimal]] = defaultdict(dict)
    for day, name, cost in rows:
        landed_costs[day][tuple(name.split("/"))] = cost

    for day in (date(2026, 11, d) for d in range(1, 5)):
        truth = fleet.truth(day, level="namespace")
        assert landed_costs[day].keys() == truth.keys()
        for key, expected in truth.items():
            assert float(landed_costs[day][key]) == pytest.approx(expected, abs=1e-9), key


def test_given_landed_tables_then_dbt_staging_builds_on_them_in_the_same_process(landed, chdb_url):
    _, database, _, _ = landed

    result = build(
        chdb_url,
        vars={"kubecost_database": database, "kubecost_granularity": "namespace"},
        select=["path:models/staging"],
        schema=database + "_dbt",
    )

    assert result.success, result.report()
    assert result.nodes >= 3
