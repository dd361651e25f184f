"""The real connector (`source-kubecost`) against the Kubecost simulator, landed into chDB,
then read by the dbt project's staging models in the same process."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from kubecost_pipeline.landing import sync
from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer
from kubecost_pipeline.transform import build

pytestmark = pytest.mark.slow


def test_given_the_simulator_when_synced_twice_then_costs_match_and_dbt_staging_reads_them(
    chdb_url, ch_client, ch_database
):
    fleet = Fleet(FleetSpec(seed=3, clusters=2, start=date(2026, 11, 1), days=10))
    config = {
        "start_date": "2026-11-01",
        "end_date": "2026-11-03",
        "granularity": "namespace",
        "lookback_days": 1,
    }
    with SimulatorServer(fleet, now=datetime(2026, 11, 6, 12, tzinfo=UTC)) as server:
        config["url"] = server.base_url
        first = sync(config, chdb_url, ch_database)
        # Up to 11-04, re-reading one lookback day (11-03).
        second = sync({**config, "end_date": "2026-11-04"}, chdb_url, ch_database)

    # States advance; the re-read day lands again and the engine keeps the later rows.
    assert first.streams["allocations"].state == {"window_start": "2026-11-03T00:00:00Z"}
    assert second.streams["allocations"].state == {"window_start": "2026-11-04T00:00:00Z"}
    assert second.sync_id == first.sync_id + 1
    per_day = ch_client.query(
        "SELECT toDate(window_start), count(), "
        "groupUniqArray(JSONExtractUInt(_airbyte_meta, 'sync_id')) "
        "FROM {db:Identifier}.allocations FINAL GROUP BY 1 ORDER BY 1",
        parameters={"db": ch_database},
    ).result_rows
    syncs = [(day, sync_ids) for day, _, sync_ids in per_day]
    assert syncs == [
        (date(2026, 11, 1), [first.sync_id]),
        (date(2026, 11, 2), [first.sync_id]),
        (date(2026, 11, 3), [second.sync_id]),
        (date(2026, 11, 4), [second.sync_id]),
    ]
    assert second.streams["allocations"].records == sum(n for _, n, _ in per_day[2:])
    keys = ch_client.query(
        "SELECT uniqExact(window_start, name) FROM {db:Identifier}.allocations",
        parameters={"db": ch_database},
    ).result_rows
    assert keys == [(sum(n for _, n, _ in per_day),)]
    assert ch_client.query(
        "SELECT count() FROM {db:Identifier}.clusters", parameters={"db": ch_database}
    ).result_rows == [(2,)]

    # Every (cluster, namespace) and day costs what the simulated fleet says.
    rows = ch_client.query(
        "SELECT toDate(window_start), name, totalCost FROM {db:Identifier}.allocations FINAL "
        "WHERE NOT is_idle",
        parameters={"db": ch_database},
    ).result_rows
    landed: dict[date, dict[tuple[str, ...], Decimal]] = defaultdict(dict)
    for day, name, cost in rows:
        landed[day][tuple(name.split("/"))] = cost
    for day in (date(2026, 11, d) for d in range(1, 5)):
        truth = fleet.truth(day, level="namespace")
        assert landed[day].keys() == truth.keys()
        for key, expected in truth.items():
            assert float(landed[day][key]) == pytest.approx(expected, abs=1e-9), key

    # dbt staging builds on the landed tables, in this process (the chDB engine is shared).
    result = build(
        chdb_url,
        vars={"kubecost_database": ch_database, "kubecost_granularity": "namespace"},
        select=["path:models/staging"],
        schema=ch_database + "_dbt",
    )
    assert result.success, result.report()
    assert result.nodes >= 3
