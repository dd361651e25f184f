"""`kubecost-pipeline sql`: rows as a table, CSV or JSON lines, ClickHouse's own FORMAT
passed through, and one clear line for what goes wrong; on embedded chDB and over HTTP."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from kubecost_pipeline.cli import main

CLI = [sys.executable, "-m", "kubecost_pipeline.cli"]
COLUMNS = (
    "name String, cost Nullable(Float64), labels Map(String, String), tags Array(String), "
    "pair Tuple(String, Float64), day Date, at DateTime"
)
ROWS = (
    "('api', 3.0251400000000004, {'team': 'payments'}, ['a', 'b'], ('x', 0.1), "
    "'2026-11-30', '2026-11-30 08:00:00'), "
    "('idle', NULL, {}, [], ('', 2.5), '2026-12-01', '2026-12-01 23:59:59')"
)
# What each row is, written by hand from ROWS (the exact floats as Python reads them).
RECORDS = [
    {
        "name": "api",
        "cost": 3.0251400000000004,
        "labels": {"team": "payments"},
        "tags": ["a", "b"],
        "pair": ["x", 0.1],
        "day": "2026-11-30",
        "at": "2026-11-30T08:00:00",
    },
    {
        "name": "idle",
        "cost": None,
        "labels": {},
        "tags": [],
        "pair": ["", 2.5],
        "day": "2026-12-01",
        "at": "2026-12-01T23:59:59",
    },
]


@pytest.fixture
def costs(clickhouse: Any) -> tuple[str, str]:
    """(URL, query) of a two-row table with a NULL, a map, an array, a tuple and dates."""
    table = f"`{clickhouse.database}`.costs"
    clickhouse.client.command(f"CREATE TABLE {table} ({COLUMNS}) ENGINE = MergeTree ORDER BY name")
    clickhouse.client.command(f"INSERT INTO {table} VALUES {ROWS}")
    return clickhouse.url, f"select * from {table} order by name"


def sql(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["sql", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_given_jsonl_then_one_exact_json_object_a_row_with_null_maps_and_iso_dates(
    costs: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, query = costs

    code, out, err = sql(capsys, query, "--format", "jsonl", "--clickhouse-url", url)

    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == RECORDS
    assert '"cost": 3.0251400000000004' in out  # the exact float, not a rounded one


def test_given_csv_then_a_header_and_empty_nulls_and_json_for_maps(
    costs: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, query = costs

    code, out, err = sql(capsys, query, "--format", "csv", "--clickhouse-url", url)

    assert code == 0, err
    assert list(csv.reader(io.StringIO(out))) == [
        ["name", "cost", "labels", "tags", "pair", "day", "at"],
        [
            *("api", "3.0251400000000004", '{"team":"payments"}', '["a","b"]', '["x",0.1]'),
            *("2026-11-30", "2026-11-30T08:00:00"),
        ],
        ["idle", "", "{}", "[]", '["",2.5]', "2026-12-01", "2026-12-01T23:59:59"],
    ]


def test_given_table_then_aligned_columns_null_and_floats_without_binary_noise(
    costs: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, query = costs

    code, out, err = sql(capsys, query, "--format", "table", "--clickhouse-url", url)

    assert code == 0, err
    assert out == textwrap.dedent(
        """\
        name     cost  labels               tags       pair       day         at
        ----  -------  -------------------  ---------  ---------  ----------  -------------------
        api   3.02514  {"team":"payments"}  ["a","b"]  ["x",0.1]  2026-11-30  2026-11-30T08:00:00
        idle     NULL  {}                   []         ["",2.5]   2026-12-01  2026-12-01T23:59:59
        """
    )


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("FORMAT CSVWithNames", '"name","cost"\n"api",3.0251400000000004\n"idle",\\N\n'),
        (
            "FORMAT JSONEachRow",
            '{"name":"api","cost":3.0251400000000004}\n{"name":"idle","cost":null}\n',
        ),
        (
            "format PrettyCompact;",
            "   ┌─name─┬───────────────cost─┐\n"
            "1. │ api  │ 3.0251400000000004 │\n"
            "2. │ idle │               ᴺᵁᴸᴸ │\n"
            "   └──────┴────────────────────┘\n",
        ),
    ],
)
def test_given_the_query_s_own_format_then_clickhouse_s_output_is_printed_verbatim(
    clause: str, expected: str, costs: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, query = costs
    query = query.replace("select *", "select name, cost") + f" {clause}"

    code, out, err = sql(capsys, query, "--clickhouse-url", url)

    assert code == 0, err
    assert out == expected


def test_given_format_and_a_format_clause_then_a_usage_error_naming_both(
    chdb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = sql(
        capsys, "select 1 FORMAT CSV", "--format", "jsonl", "--clickhouse-url", chdb_url
    )

    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert "--format jsonl and the query's FORMAT CSV" in json.loads(line)["message"]


@pytest.mark.parametrize(
    ("query", "clause"),
    [
        ("select 'FORMAT CSV' as x", None),  # inside a string
        ("select 1 -- FORMAT CSV", None),  # inside a comment
        ("select 1 as format", None),
        ("select 1\nFORMAT TSVWithNames\n", "TSVWithNames"),
        ("select 1 FORMAT JSON SETTINGS max_threads = 1;", "JSON"),
    ],
)
def test_format_clause_is_found_only_at_the_end_of_the_code(query: str, clause: str | None) -> None:
    from kubecost_pipeline.sql_output import format_clause

    assert format_clause(query) == clause


@pytest.mark.parametrize(
    ("query", "phrase"),
    [
        ("selec 1", "Syntax error"),
        ("selec 1 FORMAT CSV", "Syntax error"),  # through the raw passthrough
        ("select 1 FORMAT NoSuchFormat", "Unknown format NoSuchFormat"),
        ("select * from no_such_database.t", "UNKNOWN_DATABASE"),
    ],
)
def test_given_a_query_clickhouse_refuses_then_one_line_and_exit_1(
    query: str, phrase: str, clickhouse: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = sql(capsys, query, "--clickhouse-url", clickhouse.url)

    assert code == 1 and out == ""
    (line,) = err.splitlines()
    message = json.loads(line)["message"]
    assert message.startswith("query failed: ClickHouse at ") and phrase in message
    assert "Traceback" not in err


def test_given_a_statement_without_rows_then_nothing_is_printed(
    clickhouse: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    table = f"`{clickhouse.database}`.made"
    created = sql(
        capsys, f"CREATE TABLE {table} (a Int8) ENGINE = Memory", "--clickhouse-url", clickhouse.url
    )
    inserted = sql(capsys, f"insert into {table} values (7)", "--clickhouse-url", clickhouse.url)
    selected = sql(capsys, f"select a from {table}", "--clickhouse-url", clickhouse.url)

    assert created == (0, "", "") and inserted[:2] == (0, "")
    assert selected[:2] == (0, '{"a": 7}\n')


def test_given_no_format_off_a_terminal_then_json_lines(
    chdb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = sql(capsys, "select 1 as one, NULL as nothing", "--clickhouse-url", chdb_url)

    assert code == 0
    assert out == '{"one": 1, "nothing": null}\n'


def test_given_no_format_on_a_terminal_then_a_table(tmp_path: Path) -> None:
    """A real terminal (a pseudo-terminal) on stdout; its own chDB directory."""
    leader, follower = pty.openpty()
    done = subprocess.run(
        [*CLI, "sql", "select 1 as one, 'x' as letter", "--clickhouse-url", f"chdb://{tmp_path}"],
        stdout=follower,
        stderr=subprocess.PIPE,
        timeout=120,
    )
    os.close(follower)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once everything written was read
        while chunk := os.read(leader, 4096):
            shown += chunk
    os.close(leader)

    assert done.returncode == 0, done.stderr
    assert shown.decode().splitlines() == ["one  letter", "---  ------", "  1  x"]


def test_given_a_chdb_directory_another_process_holds_then_one_line(
    tmp_path: Path, chdb_held_by_another_process
) -> None:
    with chdb_held_by_another_process(tmp_path):
        done = subprocess.run(
            [*CLI, "sql", "select 1", "--clickhouse-url", f"chdb://{tmp_path}"],
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "Cannot open the embedded ClickHouse at" in json.loads(line)["message"]
