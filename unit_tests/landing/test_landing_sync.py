"""`landing.sync` end to end: a fake source process (fake_source.py) into real chDB.

Each test lands into its own database of this process's chDB directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubecost_pipeline.cli import main
from kubecost_pipeline.landing import (
    CatalogError,
    LandingError,
    RecordError,
    SourceError,
    sync,
)
from kubecost_pipeline.landing.source import Source, default_command

FAKE_SOURCE = [sys.executable, str(Path(__file__).with_name("fake_source.py"))]
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]
DAYS_DATE = [dt.date.fromisoformat(d) for d in DAYS]


@pytest.fixture
def land(chdb_url, ch_database):
    def land_(config: dict, **options):
        options.setdefault("source_command", FAKE_SOURCE)
        return sync(config, chdb_url, ch_database, **options)

    return land_


def _query(ch_client, sql: str, database: str) -> list[tuple]:
    return ch_client.query(sql.replace("{db}", f"`{database}`")).result_rows


def _states(ch_client, database: str) -> list[tuple]:
    return _query(
        ch_client,
        "SELECT sync_id, stream, kind, generation_id, state, records "
        "FROM {db}._airbyte_state ORDER BY sync_id, seq",
        database,
    )


def test_given_first_sync_then_tables_have_the_destination_layout_and_meta_columns(
    land, ch_client, ch_database
):
    result = land({"days": DAYS[:2], "per_day": 3})

    assert {s: r.records for s, r in result.streams.items()} == {
        "allocations": 6,
        "assets": 6,
        "clusters": 1,
    }
    columns = _query(
        ch_client,
        "SELECT name, type FROM system.columns WHERE database = '{db}' AND table = 'allocations'"
        " ORDER BY position".replace("'{db}'", f"'{ch_database}'"),
        ch_database,
    )
    assert columns[:8] == [
        ("_airbyte_raw_id", "String"),
        ("_airbyte_extracted_at", "DateTime64(3)"),
        ("_airbyte_meta", "String"),
        ("_airbyte_generation_id", "UInt32"),
        ("window_start", "DateTime64(3)"),
        ("window_end", "Nullable(DateTime64(3))"),
        ("granularity", "String"),
        ("idle_policy", "String"),
    ]
    assert ("cpuCost", "Nullable(Decimal(38, 9))") in columns
    assert ("labels", "Nullable(String)") in columns
    engines = _query(
        ch_client,
        "SELECT name, engine_full FROM system.tables WHERE database = '"
        + ch_database
        + "' ORDER BY name",
        ch_database,
    )
    assert [(n, e.split(" SETTINGS")[0]) for n, e in engines] == [
        ("_airbyte_state", "MergeTree ORDER BY (sync_id, seq)"),
        (
            "allocations",
            "ReplacingMergeTree(window_start) "
            "ORDER BY (window_start, granularity, idle_policy, name)",
        ),
        ("assets", "ReplacingMergeTree(window_start) ORDER BY (window_start, key)"),
        ("clusters", "MergeTree ORDER BY (_airbyte_raw_id)"),
    ]
    row = _query(
        ch_client,
        "SELECT _airbyte_meta, _airbyte_generation_id, toUnixTimestamp64Milli("
        "_airbyte_extracted_at), length(_airbyte_raw_id), labels, services, totalCost "
        "FROM {db}.allocations WHERE name = 'cluster-one/ns-1/pod-1' "
        "AND window_start = '2026-01-02 00:00:00'",
        ch_database,
    )
    assert row == [
        (
            '{"sync_id":1,"changes":[]}',
            0,
            1767225600000,
            36,
            '{"app":"app-1"}',
            '["svc-1"]',
            pytest.approx(0.375),
        ),
    ]


def test_given_a_second_sync_then_it_resumes_from_the_committed_state(land, ch_client, ch_database):
    land({"days": DAYS[:2], "per_day": 3})

    second = land({"days": DAYS, "per_day": 3})

    # The source re-reads from the state's day (2026-01-02) on: 2 days x 3 records.
    assert second.sync_id == 2
    assert second.streams["allocations"].records == 6
    assert second.streams["allocations"].state == {"window_start": "2026-01-03T00:00:00Z"}
    # The re-read day lands twice; the engine keeps the later insert (raw counts depend
    # on when background merges run, so only FINAL is asserted).
    final = _query(
        ch_client,
        "SELECT toDate(window_start), groupUniqArray(JSONExtractUInt(_airbyte_meta, 'sync_id')),"
        " count() FROM {db}.allocations FINAL GROUP BY 1 ORDER BY 1",
        ch_database,
    )
    assert final == [(DAYS_DATE[0], [1], 3), (DAYS_DATE[1], [2], 3), (DAYS_DATE[2], [2], 3)]
    states = [s for s in _states(ch_client, ch_database) if s[1] == "allocations"]
    assert [json.loads(s[4])["stream"]["stream_state"]["window_start"][:10] for s in states] == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-02",
        "2026-01-03",
    ]
    # Overwrite: one generation per sync, exactly one copy of the cluster.
    assert second.streams["clusters"].generation_id == 1
    assert _query(
        ch_client, "SELECT id, _airbyte_generation_id FROM {db}.clusters", ch_database
    ) == [("c1", 1)]


@pytest.mark.parametrize("kill_after", [1, 4, 7, 8])
def test_given_a_source_killed_mid_stream_then_the_next_sync_loses_and_double_counts_nothing(
    land, ch_client, ch_database, kill_after
):
    with pytest.raises(SourceError, match="exit code -9") as failed:
        land({"days": DAYS, "per_day": 3, "kill_after": kill_after})

    # Every state that was committed covers records that are in the table.
    allocations = failed.value.result.streams["allocations"]
    committed_days = kill_after // 3  # the fake source checkpoints after each day of 3
    assert allocations.states == committed_days
    landed = _query(ch_client, "SELECT count() FROM {db}.allocations", ch_database)[0][0]
    assert landed >= 3 * committed_days
    assert _query(ch_client, "EXISTS TABLE {db}.clusters", ch_database) == [(0,)]  # not swapped in

    land({"days": DAYS, "per_day": 3})

    unique = _query(
        ch_client,
        "SELECT count(), uniqExact(window_start, name), sum(totalCost) FROM {db}.allocations FINAL",
        ch_database,
    )
    assert unique == [(9, 9, pytest.approx(3 * (0.125 + 0.375 + 0.625)))]
    assert _query(ch_client, "SELECT count() FROM {db}.clusters", ch_database) == [(1,)]


def test_given_a_failing_source_then_records_stay_and_overwrite_keeps_the_old_table(
    land, ch_client, ch_database
):
    land({"days": DAYS[:1], "per_day": 2})

    with pytest.raises(SourceError, match=r"Kubecost said no \(system_error\)"):
        land({"days": DAYS[1:], "per_day": 2, "fail": True})

    assert _query(ch_client, "SELECT count() FROM {db}.allocations FINAL", ch_database) == [(6,)]
    assert _query(ch_client, "SELECT _airbyte_generation_id FROM {db}.clusters", ch_database) == [
        (0,)
    ]
    assert _query(ch_client, "EXISTS TABLE {db}.clusters_airbyte_tmp", ch_database) == [(0,)]


def test_given_a_newer_connector_with_new_fields_then_columns_are_added(
    land, ch_client, ch_database
):
    land({"days": DAYS[:1], "per_day": 1})

    land({"days": DAYS[1:2], "per_day": 1, "extra_fields": ["gpuCost"]})

    assert _query(
        ch_client,
        "SELECT toDate(window_start), gpuCost FROM {db}.allocations ORDER BY window_start",
        ch_database,
    ) == [(DAYS_DATE[0], None), (DAYS_DATE[1], pytest.approx(1.5))]


def test_given_out_of_range_values_then_they_are_nulled_and_recorded_in_meta(
    land, ch_client, ch_database
):
    land({"days": DAYS[:1], "per_day": 1, "overrides": {"cpuCost": 1e30, "minutes": "lots"}})

    row = _query(
        ch_client, "SELECT cpuCost, minutes, _airbyte_meta FROM {db}.allocations", ch_database
    )
    assert row[0][:2] == (None, None)
    assert json.loads(row[0][2]) == {
        "sync_id": 1,
        "changes": [
            {"field": "minutes", "change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"},
            {"field": "cpuCost", "change": "NULLED", "reason": "DESTINATION_FIELD_SIZE_LIMITATION"},
        ],
    }


def test_given_a_null_primary_key_then_the_sync_fails_before_writing_that_batch(
    land, ch_client, ch_database
):
    with pytest.raises(RecordError, match=r"'name'.*must never be null"):
        land({"days": DAYS[:1], "per_day": 2, "overrides": {"name": None}})

    assert _query(ch_client, "SELECT count() FROM {db}.allocations", ch_database) == [(0,)]
    assert [s[2] for s in _states(ch_client, ch_database)] == ["started"]


def test_given_a_mode_change_then_the_table_is_rebuilt_with_its_rows(
    land, ch_client, ch_database, caplog
):
    caplog.set_level("INFO")
    land({"days": DAYS[:1], "per_day": 2}, streams=["allocations"])

    result = land(
        {"days": DAYS[1:2], "per_day": 2}, streams=["allocations"], modes={"allocations": "append"}
    )

    assert list(result.streams) == ["allocations"]
    assert _query(
        ch_client,
        f"SELECT engine, sorting_key FROM system.tables WHERE database = '{ch_database}' "
        "AND name = 'allocations'",
        ch_database,
    ) == [("MergeTree", "(_airbyte_raw_id)")]
    assert _query(ch_client, "SELECT count() FROM {db}.allocations", ch_database) == [(4,)]

    caplog.clear()
    land({"days": DAYS[2:], "per_day": 2}, streams=["allocations"], modes={"allocations": "append"})
    assert "Rebuilding" not in caplog.text
    assert _query(ch_client, "SELECT count() FROM {db}.allocations", ch_database) == [(6,)]


def test_given_small_batches_then_every_state_follows_its_records(land, ch_client, ch_database):
    land({"days": DAYS, "per_day": 5}, batch_rows=2, streams=["allocations"])

    records = [s[5] for s in _states(ch_client, ch_database) if s[2] == "state"]
    assert records == [5, 10, 15]
    assert _query(ch_client, "SELECT count() FROM {db}.allocations", ch_database) == [(15,)]


def test_given_unknown_streams_or_modes_then_catalog_error_lists_the_choices(land):
    with pytest.raises(CatalogError, match=r"\['nodes'\].*\['allocations', 'assets', 'clusters'\]"):
        land({"days": DAYS}, streams=["nodes"])
    with pytest.raises(CatalogError, match="unknown sync mode 'upsert'"):
        land({"days": DAYS}, modes={"assets": "upsert"})


def test_given_the_cli_then_sync_prints_streams_and_exits_zero(
    tmp_path, chdb_url, ch_database, capsys
):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"days": DAYS[:1], "per_day": 2}))
    argv = ["sync", "--config", str(config), "--clickhouse-url", chdb_url]
    argv += ["--database", ch_database, "--source-command", " ".join(FAKE_SOURCE)]

    assert main([*argv, "--mode", "clusters=append"]) == 0
    out = capsys.readouterr().out
    assert "allocations: 2 records" in out
    assert "clusters: 1 records" in out and "(append, generation 0" in out
    assert main([*argv, "--mode", "clusters"]) == 2
    assert main(["sync", "--config", str(tmp_path / "missing.json")]) == 2


def test_given_a_server_url_that_refuses_then_the_error_hides_the_password():
    with pytest.raises(LandingError) as failed:
        sync({}, "http://loader:hunter2@127.0.0.1:9/", source_command=FAKE_SOURCE)

    assert "hunter2" not in str(failed.value)
    assert "loader:***@127.0.0.1:9" in str(failed.value)
    assert "check the host and port" in str(failed.value)


def test_given_a_chdb_directory_held_by_another_process_then_sync_explains_the_lock(
    tmp_path, chdb_held_by_another_process
):
    with chdb_held_by_another_process(tmp_path / "chdb"):
        config = tmp_path / "config.json"
        config.write_text("{}")
        url = f"chdb://{tmp_path / 'chdb'}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "kubecost_pipeline.cli",
                "sync",
                "--config",
                str(config),
                "--clickhouse-url",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert done.returncode == 1
    assert "chDB lets one process open a directory at a time" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("records_before_kill", [500, 7_000])
def test_given_the_loader_killed_mid_sync_then_the_next_sync_is_exact(
    tmp_path, records_before_kill
):
    # The loader runs in its own process (and chDB directory) so that it can be SIGKILLed
    # while the source holds still after emitting `records_before_kill` records (with
    # batches of 700 and a state every 3,000 records, some are committed, some buffered).
    pause_file = tmp_path / "paused"
    days = [f"2026-01-{d:02d}" for d in range(1, 5)]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"days": days, "per_day": 3000}))
    paused_config = tmp_path / "paused_config.json"
    paused_config.write_text(
        json.dumps({"days": days, "per_day": 3000, "pause_after": records_before_kill,
                    "pause_file": str(pause_file)})
    )  # fmt: skip
    url = f"chdb://{tmp_path / 'chdb'}"
    argv = ["-m", "kubecost_pipeline.cli", "sync", "--clickhouse-url", url,
            "--source-command", " ".join(FAKE_SOURCE), "--batch-rows", "700",
            "--streams", "allocations", "--config"]  # fmt: skip

    loader = subprocess.Popen([sys.executable, *argv, str(paused_config)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not pause_file.exists() and loader.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # let the loader work through what the pipe holds
    loader.kill()
    loader.wait()
    os.kill(int(pause_file.read_text()), signal.SIGKILL)  # the orphaned, sleeping source
    assert loader.returncode == -9, loader.stderr.read() if loader.stderr else ""
    landed, states = _in_subprocess(LANDED_AND_STATES, url)
    assert states == records_before_kill // 3000  # a state per completed day ...
    assert 3000 * states <= landed <= records_before_kill  # ... after its records

    done = subprocess.run([sys.executable, *argv, str(config)], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _in_subprocess(COUNT_FINAL, url) == [4 * 3000, 4 * 3000]


def _in_subprocess(script: str, url: str) -> list:
    """Run a query script on another chDB directory (this process has its own)."""
    done = subprocess.run([sys.executable, "-c", script, url], capture_output=True, timeout=60)
    return json.loads(done.stdout)


LANDED_AND_STATES = """
import json, sys, clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
print(json.dumps([
    client.command("SELECT count() FROM kubecost.allocations"),
    client.command("SELECT countIf(kind = 'state') FROM kubecost._airbyte_state"),
]))
"""
COUNT_FINAL = """
import json, sys, clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
rows = client.query(
    "SELECT count(), uniqExact(window_start, name) FROM kubecost.allocations FINAL"
).result_rows
print(json.dumps(list(rows[0])))
"""


def test_given_refresh_then_everything_is_read_again_as_a_new_generation(
    land, ch_client, ch_database
):
    land({"days": DAYS[:2], "per_day": 2}, streams=["allocations"])

    refreshed = land({"days": DAYS[:2], "per_day": 2}, streams=["allocations"], refresh=True)

    assert refreshed.streams["allocations"].records == 4  # from the first day again
    assert refreshed.streams["allocations"].generation_id == 1
    assert _query(
        ch_client,
        "SELECT _airbyte_generation_id, count() FROM {db}.allocations FINAL GROUP BY 1",
        ch_database,
    ) == [(1, 4)]


def test_given_changes_reported_by_the_source_then_meta_keeps_them(ch_client, ch_database):
    from kubecost_pipeline.landing.destination import Destination, StreamWriter
    from kubecost_pipeline.landing.schema import table_schema

    schema = table_schema("s", {"properties": {"n": {"type": "number"}}}, "append")
    destination = Destination(ch_client, ch_database)
    writer = StreamWriter(destination, schema, destination.prepare(schema), 7, 0, 10)
    truncated = {"field": "n", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}

    writer.add({"data": {"n": "x"}, "emitted_at": 0, "meta": {"changes": [truncated]}})
    writer.flush()

    meta = _query(ch_client, "SELECT _airbyte_meta FROM {db}.s", ch_database)[0][0]
    assert json.loads(meta) == {
        "sync_id": 7,
        "changes": [
            truncated,
            {"field": "n", "change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"},
        ],
    }


def test_given_a_source_that_cannot_start_or_discover_then_source_error_says_so(land):
    with pytest.raises(SourceError, match="Cannot start the source '/no/such/source'"):
        land({}, source_command=["/no/such/source"])
    with pytest.raises(SourceError, match="did not return a catalog"):
        land({}, source_command=[sys.executable, "-c", "print('not a message')"])


def test_given_the_installed_connector_then_its_catalog_is_discovered_without_a_process(
    tmp_path, monkeypatch
):
    command = default_command()
    config = {"url": "http://127.0.0.1:9", "start_date": "2026-01-01"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    spawned = subprocess.run(
        [*command, "discover", "--config", str(tmp_path / "config.json")],
        capture_output=True,
        check=True,
    )
    expected = next(
        m["catalog"]["streams"]
        for m in map(json.loads, spawned.stdout.splitlines())
        if m["type"] == "CATALOG"
    )

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    assert Source(command, config, tmp_path).discover() == expected


def test_given_a_statement_clickhouse_refuses_then_landing_error_says_what_to_do(
    land, ch_client, ch_database
):
    # An earlier table whose key column `name` is Int64: ClickHouse refuses to alter a key.
    ch_client.command(
        f"CREATE TABLE `{ch_database}`.allocations (_airbyte_raw_id String, "
        "_airbyte_extracted_at DateTime64(3), _airbyte_meta String, _airbyte_generation_id "
        "UInt32, window_start DateTime64(3), granularity String, idle_policy String, name Int64)"
        " ENGINE = ReplacingMergeTree(window_start)"
        " ORDER BY (window_start, granularity, idle_policy, name)"
    )

    with pytest.raises(
        LandingError,
        match=r"ClickHouse at .* refused the statement: .* fix the cause and sync again",
    ):
        land({"days": DAYS[:1]}, streams=["allocations"])
