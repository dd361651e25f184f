"""The destination-clickhouse v2 mapping: names, types, DDL and value coercion (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from kubecost_pipeline.landing.errors import CatalogError
from kubecost_pipeline.landing.schema import (
    RowBuilder,
    column_type,
    compatible_name,
    table_schema,
)

TS = {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"}
ALLOCATIONS = {
    "type": "object",
    "properties": {
        "window_start": TS,
        "name": {"type": ["null", "string"]},
        "cpuCost": {"type": ["null", "number"]},
        "labels": {"type": ["null", "object"]},
    },
}
PK = [["window_start"], ["name"]]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hello world", "hello_world"),
        ("user-123", "user_123"),
        ("cpuCost", "cpuCost"),
        ("1st", "_1st"),
        ("café  au lait", "cafe_au_lait"),
        ("a.b/c", "a_b_c"),
    ],
)
def test_given_a_field_name_then_the_column_name_follows_the_destination(name, expected):
    assert compatible_name(name) == expected


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": "boolean"}, "Bool"),
        ({"type": ["null", "integer"]}, "Int64"),
        ({"type": "number", "airbyte_type": "integer"}, "Int64"),
        ({"type": ["null", "number"]}, "Decimal(38, 9)"),
        ({"type": ["null", "string"]}, "String"),
        ({"type": "string", "format": "date"}, "Date32"),
        (TS, "DateTime64(3)"),
        ({"type": "string", "airbyte_type": "timestamp_without_timezone"}, "DateTime64(3)"),
        ({"type": "string", "format": "time"}, "String"),
        ({"type": ["null", "object"]}, "JSON String"),
        ({"type": "array", "items": {"type": "string"}}, "JSON String"),
        ({"type": ["null", "string", "number"]}, "JSON String"),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "JSON String"),
        ({}, "String"),
    ],
)
def test_given_a_json_schema_type_then_the_clickhouse_type_follows_the_destination(prop, expected):
    assert column_type(prop) == expected


def test_given_append_dedup_with_timestamp_cursor_then_ddl_is_replacing_merge_tree_on_pk():
    schema = table_schema("allocations", ALLOCATIONS, "append_dedup", PK, ["window_start"])

    assert schema.create_sql("kubecost") == (
        "CREATE TABLE `kubecost`.`allocations` (\n"
        "  _airbyte_raw_id String NOT NULL,\n"
        "  _airbyte_extracted_at DateTime64(3) NOT NULL,\n"
        "  _airbyte_meta String NOT NULL,\n"
        "  _airbyte_generation_id UInt32 NOT NULL,\n"
        "  `window_start` DateTime64(3),\n"
        "  `name` String,\n"
        "  `cpuCost` Nullable(Decimal(38, 9)),\n"
        "  `labels` Nullable(String)\n"
        ")\n"
        "ENGINE = ReplacingMergeTree(`window_start`)\n"
        "ORDER BY (`window_start`,`name`)"
    )


def test_given_a_string_cursor_then_the_version_falls_back_to_extracted_at():
    schema = table_schema("allocations", ALLOCATIONS, "append_dedup", PK, ["name"])

    assert schema.engine == "ReplacingMergeTree(`_airbyte_extracted_at`)"
    assert [c.nullable for c in schema.columns] == [False, False, True, True]


@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_given_append_or_overwrite_then_merge_tree_by_raw_id_and_every_column_nullable(mode):
    schema = table_schema("allocations", ALLOCATIONS, mode, PK, ["window_start"])

    assert (schema.engine, schema.order_by) == ("MergeTree()", "_airbyte_raw_id")
    assert all(c.nullable for c in schema.columns)


@pytest.mark.parametrize(
    ("mode", "pk", "message"),
    [
        ("append_dedup", [["labels", "app"]], "only top-level primary keys"),
        ("append_dedup", [], "no primary key"),
        ("append_dedup", [["missing"]], "not in its JSON schema"),
        ("upsert", PK, "unknown sync mode 'upsert'"),
    ],
)
def test_given_an_impossible_configuration_then_catalog_error_names_it(mode, pk, message):
    with pytest.raises(CatalogError, match=message):
        table_schema("allocations", ALLOCATIONS, mode, pk, ["window_start"])


def test_given_fields_that_map_to_one_column_then_catalog_error():
    clash = {"properties": {"a-b": {"type": "string"}, "a_b": {"type": "string"}}}
    with pytest.raises(CatalogError, match=r"\['a_b'\]"):
        table_schema("s", clash, "append")


def _values(props: dict, data: dict) -> tuple[list, list]:
    builder = RowBuilder(table_schema("s", {"properties": props}, "append"))
    changes: list = []
    return builder.values(data, changes), changes


def test_given_valid_values_then_they_convert_to_clickhouse_values():
    props = {
        "ts": TS,
        "d": {"type": "string", "format": "date"},
        "n": {"type": "number"},
        "i": {"type": "integer"},
        "b": {"type": "boolean"},
        "s": {"type": "string"},
        "o": {"type": "object"},
        "u": {"type": ["string", "number"]},
        "missing": {"type": "string"},
    }
    data = {
        "ts": "2024-01-01T02:00:00+02:00",
        "d": "2024-01-31",
        "n": "1E-1",
        "i": 7,
        "b": True,
        "s": 42,
        "o": {"app": "é", "n": [1, 2]},
        "u": "text",
    }

    values, changes = _values(props, data)

    assert values == [
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        dt.date(2024, 1, 31),
        "0.1",
        7,
        True,
        "42",
        '{"app":"é","n":[1,2]}',
        '"text"',
        None,
    ]
    assert changes == []


@pytest.mark.parametrize(
    ("prop", "value", "reason"),
    [
        ({"type": "integer"}, 2**63, "DESTINATION_FIELD_SIZE_LIMITATION"),
        ({"type": "number"}, 1e29, "DESTINATION_FIELD_SIZE_LIMITATION"),
        ({"type": "number"}, "-1e30", "DESTINATION_FIELD_SIZE_LIMITATION"),
        ({"type": "number"}, float("nan"), "DESTINATION_SERIALIZATION_ERROR"),
        ({"type": "number"}, "twelve", "DESTINATION_SERIALIZATION_ERROR"),
        (TS, "2300-01-01T00:00:00Z", "DESTINATION_FIELD_SIZE_LIMITATION"),
        (TS, "1899-12-31T23:59:59Z", "DESTINATION_FIELD_SIZE_LIMITATION"),
        (TS, "yesterday", "DESTINATION_SERIALIZATION_ERROR"),
        ({"type": "string", "format": "date"}, "1899-12-31", "DESTINATION_FIELD_SIZE_LIMITATION"),
        ({"type": "boolean"}, "yes", "DESTINATION_SERIALIZATION_ERROR"),
        ({"type": "integer"}, 1.5, "DESTINATION_SERIALIZATION_ERROR"),
    ],
)
def test_given_a_value_the_destination_cannot_hold_then_it_is_nulled_with_a_change(
    prop, value, reason
):
    values, changes = _values({"f": prop}, {"f": value})

    assert values == [None]
    assert changes == [{"field": "f", "change": "NULLED", "reason": reason}]


def test_given_a_null_primary_key_value_then_the_row_is_refused():
    builder = RowBuilder(table_schema("s", ALLOCATIONS, "append_dedup", PK, ["window_start"]))

    with pytest.raises(ValueError, match="name"):
        builder.values({"window_start": "2024-01-01T00:00:00Z", "name": None}, [])
    with pytest.raises(ValueError, match="window_start"):  # nulled by coercion, then refused
        builder.values({"window_start": "2400-01-01T00:00:00Z", "name": "x"}, [])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://loader:s%40cr%3At@ch.example:8443/db", "https://loader:***@ch.example:8443/db"),
        ("http://loader@ch.example:8123", "http://loader@ch.example:8123"),
        ("chdb:///var/lib/ch", "chdb:///var/lib/ch"),
    ],
)
def test_given_a_clickhouse_url_then_redact_hides_only_the_password(url, expected):
    from kubecost_pipeline.urls import redact

    assert redact(url) == expected


def test_given_a_cluster_then_ddl_runs_on_cluster_with_the_replicated_engine():
    schema = table_schema("allocations", ALLOCATIONS, "append_dedup", PK, ["window_start"])

    ddl = schema.create_sql("kubecost", replace=True, cluster="prod`eu")

    assert ddl.startswith(
        "CREATE OR REPLACE TABLE `kubecost`.`allocations` ON CLUSTER `prod\\`eu` ("
    )
    assert "\nENGINE = ReplicatedReplacingMergeTree(`window_start`)\n" in ddl


@pytest.mark.parametrize(
    ("engine_full", "version"),
    [
        ("ReplacingMergeTree(window_start) ORDER BY (window_start, name)", "window_start"),
        (
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', "
            "window_start) ORDER BY (window_start, name) SETTINGS index_granularity = 8192",
            "window_start",
        ),
        ("ReplicatedReplacingMergeTree('/t/{shard}', '{replica}') ORDER BY k", ""),
        ("ReplicatedReplacingMergeTree(_airbyte_extracted_at) ORDER BY k", "_airbyte_extracted_at"),
        ("MergeTree ORDER BY _airbyte_raw_id", ""),
    ],
)
def test_given_an_existing_table_then_its_version_column_is_read_from_engine_full(
    engine_full, version
):
    from kubecost_pipeline.landing.destination import _version_column

    assert _version_column(engine_full) == version


HOSTILE = ["we`ird", "back\\slash", "it's", "semi;colon -- x", "`; DROP DATABASE x; --"]


@pytest.mark.parametrize("name", HOSTILE)
def test_given_hostile_identifiers_then_quote_keeps_them_one_name(name, ch_client, ch_database):
    from kubecost_pipeline.landing.schema import quote

    ch_client.command(
        f"CREATE TABLE {quote(ch_database)}.{quote(name)} ({quote(name)} String) "
        "ENGINE = MergeTree ORDER BY tuple()"
    )

    tables = ch_client.query(
        "SELECT name FROM system.tables WHERE database = {db:String}",
        parameters={"db": ch_database},
    ).result_rows
    columns = ch_client.query(
        "SELECT name FROM system.columns WHERE database = {db:String}",
        parameters={"db": ch_database},
    ).result_rows
    assert tables == [(name,)] and columns == [(name,)]
