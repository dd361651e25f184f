"""Two syncs, two incremental runs: re-read days replace the old numbers, never add to them.

The harness seeds hold two readings: the first sync (days 1-3) and a re-read of days 2-3
in which day 3's adjustments were restated and its kube-proxy pod (the whole kube-system
namespace) is gone. Landing tables shaped like the destination's receive one sync at a
time, and dbt runs after each, as in production.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow  # dbt builds, real processes: `make test` only

FIRST_SYNC = "2026-11-04 01:00:00"
RE_READ = "2026-11-05 01:00:00"
TABLES = {  # landing table: (seed, engine as the destination creates it)
    "allocations": (
        "allocations_data",
        "ReplacingMergeTree(window_start) ORDER BY (window_start, granularity, idle_policy, name)",
    ),
    "assets": ("assets_data", "ReplacingMergeTree(window_start) ORDER BY (window_start, key)"),
    "clusters": ("clusters_data", "MergeTree() ORDER BY (_airbyte_raw_id)"),
}
MART_TOTALS = (
    "select date, level, round(sum(total_cost), 9), round(sum(idle_cost), 9), count() "
    "from `{db}_marts`.k8s_expenses_daily group by date, level order by date, level"
)


@pytest.fixture
def landing(ch_client, ch_database, seeded_landing):
    """An empty landing database: the seeds' columns, the destination's engines."""
    name = f"{ch_database}_kubecost"
    ch_client.command(f"CREATE DATABASE `{name}`")
    for table, (seed, engine) in TABLES.items():
        ch_client.command(
            f"CREATE TABLE `{name}`.`{table}` AS `{seeded_landing}`.`{seed}` ENGINE = {engine}"
        )
    yield name
    ch_client.command(f"DROP DATABASE IF EXISTS `{name}`")


def _land(ch_client, landing, seeded_landing, extracted_at):
    for table, (seed, _) in TABLES.items():
        ch_client.command(
            f"INSERT INTO `{landing}`.`{table}` SELECT * FROM `{seeded_landing}`.`{seed}` "
            f"WHERE _airbyte_extracted_at = '{extracted_at}'"
        )


def test_given_a_re_read_that_restated_a_day_when_dbt_runs_again_then_marts_hold_the_new_numbers(
    dbt, ch_client, ch_database, seeded_landing, landing
):
    vars = {"kubecost_database": landing}
    _land(ch_client, landing, seeded_landing, FIRST_SYNC)
    dbt(["build"], vars=vars)
    first = ch_client.query(MART_TOTALS.format(db=ch_database)).result_rows

    # merges stopped: the re-read rows sit beside the old ones, as before any merge
    ch_client.command(f"SYSTEM STOP MERGES `{landing}`.allocations")
    _land(ch_client, landing, seeded_landing, RE_READ)
    duplicated = ch_client.query(
        f"select count() - uniqExact(window_start, name) from `{landing}`.allocations"
    ).result_rows[0][0]
    assert duplicated > 0  # the landing table really holds both extractions of days 2-3
    dbt(["build"], vars=vars)
    second = ch_client.query(MART_TOTALS.format(db=ch_database)).result_rows

    # day 1 untouched; day 2 re-read unchanged; day 3 restated: new numbers, and the
    # vanished pod's controller, service, pod and namespace rows are gone
    def by_day(rows, day):
        return [r[1:] for r in rows if str(r[0]) == day]

    assert by_day(second, "2026-11-01") == by_day(first, "2026-11-01")
    assert by_day(second, "2026-11-02") == by_day(first, "2026-11-02")
    counts = {r[1]: r[4] for r in second if str(r[0]) == "2026-11-03"}
    assert counts == {
        r[1]: r[4] - (r[1] in ("controller", "namespace", "pod", "service"))
        for r in first
        if str(r[0]) == "2026-11-03"
    }

    # the restatement moved the 4 remaining containers' cpu adjustment from -0.02 to +0.04
    # and dropped kube-proxy (0.098 with its old adjustment)
    def day3_cluster_total(rows):
        return sum(r[2] for r in rows if str(r[0]) == "2026-11-03" and r[1] == "cluster")

    assert abs(day3_cluster_total(second) - day3_cluster_total(first) - 4 * 0.06 + 0.098) < 1e-9
    # and the marts now equal the ground truth of the seeds, row for row
    mismatches = ch_client.query(
        f"select count() from `{ch_database}_marts`.k8s_expenses_daily as actual "
        f"full outer join `{seeded_landing}`.expected_expenses as expected "
        "using (date, cluster, level, resource_key) "
        "where abs(actual.total_cost - expected.total_cost) > 1e-9 "
        "or abs(actual.idle_cost - expected.idle_cost) > 1e-9"
    ).result_rows[0][0]
    assert mismatches == 0
    extracted = ch_client.query(
        f"select date, max(extracted_at) from `{ch_database}_marts`.k8s_costs_daily "
        "group by date order by date"
    ).result_rows
    assert [str(e) for _, e in extracted] == [FIRST_SYNC, RE_READ, RE_READ]

    # an incremental history ends where a full rebuild does
    snapshot = "select * from `{db}_marts`.{mart} order by all"
    before = {
        m: ch_client.query(snapshot.format(db=ch_database, mart=m)).result_rows
        for m in ("k8s_costs_daily", "k8s_expenses_daily")
    }
    dbt(["run", "--full-refresh", "--select", "marts"], vars=vars)
    for mart, rows in before.items():
        assert ch_client.query(snapshot.format(db=ch_database, mart=mart)).result_rows == rows


def test_given_a_missing_day_or_a_wrong_granularity_var_when_testing_then_dbt_reports_it(
    dbt, ch_client, ch_database, seeded_landing, landing
):
    _land(ch_client, landing, seeded_landing, FIRST_SYNC)
    dbt(["run"], vars={"kubecost_database": landing})
    ch_client.command(
        f"ALTER TABLE `{ch_database}_marts`.k8s_reconciliation_daily DELETE "
        "WHERE date = '2026-11-02' SETTINGS mutations_sync = 2"
    )

    results = dbt(
        ["test", "--select", "k8s_reconciliation_daily,test_name:no_missing_days"],
        vars={"kubecost_database": landing},
    )

    assert [(str(r.status), r.failures) for r in results] == [("warn", 2)]  # 2 clusters

    # marts told to read a granularity that never landed: an error, not silently empty marts
    with pytest.raises(AssertionError, match="assert_marts_read_a_landed_granularity"):
        dbt(
            ["test", "--select", "assert_marts_read_a_landed_granularity"],
            vars={"kubecost_database": landing, "kubecost_granularity": "pod"},
        )


def test_given_a_daily_run_when_it_tests_the_daily_marts_then_it_reads_the_days_it_wrote(
    dbt, ch_client, ch_database, seeded_landing, landing
):
    vars = {"kubecost_database": landing}
    _land(ch_client, landing, seeded_landing, FIRST_SYNC)
    dbt(["run"], vars=vars)
    # a row of day 1 twice: the uniqueness test over the whole history finds it
    ch_client.command(
        f"INSERT INTO `{ch_database}_marts`.k8s_costs_daily SELECT * FROM "
        f"`{ch_database}_marts`.k8s_costs_daily WHERE date = '2026-11-01' LIMIT 1"
    )
    time.sleep(11)  # older than the margin (10 s) of the runs below

    unique = "k8s_costs_daily,test_name:unique_combination_of_columns"
    with pytest.raises(AssertionError, match="unique_combination_of_columns_k8s_costs_daily"):
        dbt(["test", "--select", unique], vars=vars)  # a run that wrote nothing: every day

    # the re-read rebuilds days 2 and 3 and tests them (dbt() raises on a failed test);
    # day 1, untouched, is not read
    _land(ch_client, landing, seeded_landing, RE_READ)
    dbt(
        ["build", "--select", "+k8s_costs_daily", "--exclude-resource-type", "unit_test"], vars=vars
    )
    rebuilt = ch_client.query(
        f"select distinct date from `{ch_database}_marts`.k8s_costs_daily "
        f"where extracted_at = '{RE_READ}' order by date"
    ).result_rows
    assert [str(d) for (d,) in rebuilt] == ["2026-11-02", "2026-11-03"]
