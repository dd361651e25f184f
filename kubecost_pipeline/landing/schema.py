"""The ClickHouse destination v2 table layout: names, column types, DDL and value coercion.

Mirrors airbytehq/airbyte destination-clickhouse 2.x (`ClickhouseNamingUtils.kt`,
`ClickhouseSqlGenerator.kt`, `ClickhouseTableSchemaMapper.kt`, `ClickhouseCoercer.kt`), so a
dbt model cannot tell whether Airbyte or this loader wrote a table. Pure functions: no client.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from kubecost_pipeline.landing.errors import CatalogError

RAW_ID, EXTRACTED_AT, META, GENERATION_ID = (
    "_airbyte_raw_id",
    "_airbyte_extracted_at",
    "_airbyte_meta",
    "_airbyte_generation_id",
)
META_COLUMNS = (
    (RAW_ID, "String"),
    (EXTRACTED_AT, "DateTime64(3)"),
    (META, "String"),
    (GENERATION_ID, "UInt32"),
)
VERSION_TYPES = ("Int64", "Date32", "DateTime64(3)")
SYNC_MODES = ("overwrite", "append", "append_dedup")

# Change reasons of the Airbyte protocol (AirbyteRecordMessageMetaChange.Reason).
SIZE_LIMIT = "DESTINATION_FIELD_SIZE_LIMITATION"
SERIALIZATION_ERROR = "DESTINATION_SERIALIZATION_ERROR"

_INT64 = (-(2**63), 2**63 - 1)
_DECIMAL_LIMIT = decimal.Decimal(10) ** 29  # |value| * 10^9 must stay below 10^38
_UTC = dt.UTC
_TS_MIN = dt.datetime(1900, 1, 1, tzinfo=_UTC)
_TS_MAX = dt.datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=_UTC)
_DATE_MIN, _DATE_MAX = dt.date(1900, 1, 1), dt.date(2299, 12, 31)


def compatible_name(name: str) -> str:
    """The destination's `toClickHouseCompatibleName`: `[A-Za-z0-9_]` only, no leading digit.

    Accents are stripped and whitespace runs become one `_` (the Bulk CDK's
    `toAlphanumericAndUnderscore`); case is kept, so `cpuCost` stays `cpuCost`.
    """
    text = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    text = re.sub(r"[^A-Za-z0-9_]", "_", re.sub(r"\s+", "_", text))
    if not text:
        raise CatalogError(
            f"The name {name!r} has no letter, digit or underscore left as a ClickHouse "
            "identifier; rename the stream or field in the connector's schema."
        )
    return f"_{text}" if text[0].isdigit() else text


def quote(identifier: str) -> str:
    """A backquoted ClickHouse identifier, any text: backslashes and backquotes escaped."""
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def on_cluster(cluster: str | None) -> str:
    """` ON CLUSTER <name>` for DDL that every node of a cluster must run, else nothing."""
    return f" ON CLUSTER {quote(cluster)}" if cluster else ""


def replicated(engine: str, cluster: str | None) -> str:
    """On a cluster, the replicated form of a MergeTree engine (replica path and name from
    the server's `default_replica_path` and `default_replica_name`)."""
    return f"Replicated{engine}" if cluster else engine


class Nulled(Exception):
    """A value the destination would null, with the `_airbyte_meta.changes` reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise Nulled(SERIALIZATION_ERROR)
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise Nulled(SERIALIZATION_ERROR)
    if not _INT64[0] <= number <= _INT64[1]:
        raise Nulled(SIZE_LIMIT)
    return number


def _number(value: Any) -> str:
    """Decimal text for a Decimal(38, 9) column.

    Sent as text, ClickHouse parses it exactly and keeps 9 fractional digits (truncating),
    several times faster than clickhouse-connect's Python Decimal encoding. JSON numbers
    arrive as floats, whose shortest repr round-trips up to 15-17 significant digits.
    """
    if isinstance(value, float):
        if -1e29 < value < 1e29:
            return repr(value)
        raise Nulled(SIZE_LIMIT if value == value else SERIALIZATION_ERROR)  # NaN != NaN
    if isinstance(value, bool) or not isinstance(value, int | str | decimal.Decimal):
        raise Nulled(SERIALIZATION_ERROR)
    try:
        number = decimal.Decimal(value)
    except decimal.InvalidOperation:
        raise Nulled(SERIALIZATION_ERROR) from None
    if not number.is_finite():
        raise Nulled(SERIALIZATION_ERROR)
    if abs(number) >= _DECIMAL_LIMIT:
        raise Nulled(SIZE_LIMIT)
    return str(number)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Nulled(SERIALIZATION_ERROR)


def _string(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    """Compact JSON text, as the destination writes objects, arrays and unions."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # e.g. integers beyond 64 bits
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=4096)
def _timestamp(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise Nulled(SERIALIZATION_ERROR)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Nulled(SERIALIZATION_ERROR) from None
    parsed = parsed.replace(tzinfo=_UTC) if parsed.tzinfo is None else parsed.astimezone(_UTC)
    if not _TS_MIN <= parsed <= _TS_MAX:
        raise Nulled(SIZE_LIMIT)
    return parsed


@functools.lru_cache(maxsize=4096)
def _date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise Nulled(SERIALIZATION_ERROR)
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError:
        raise Nulled(SERIALIZATION_ERROR) from None
    if not _DATE_MIN <= parsed <= _DATE_MAX:
        raise Nulled(SIZE_LIMIT)
    return parsed


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "Bool": _boolean,
    "Int64": _integer,
    "Decimal(38, 9)": _number,
    "String": _string,
    "Date32": _date,
    "DateTime64(3)": _timestamp,
    "JSON String": _json,  # objects, arrays and unions: always JSON text
}


def column_type(prop: Mapping[str, Any]) -> str:
    """The destination's ClickHouse type for one JSON-schema property (without Nullable).

    Returns "JSON String" for objects, arrays and unions: a `String` column holding JSON.
    """
    declared = prop.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    types = [t for t in types if t != "null"]
    if len(types) > 1 or "oneOf" in prop or "anyOf" in prop:
        return "JSON String"  # a union
    if not types:
        return "String"  # unknown
    kind, fmt, airbyte_type = types[0], prop.get("format"), prop.get("airbyte_type")
    if kind == "string":
        if fmt == "date-time" or (airbyte_type or "").startswith("timestamp"):
            return "DateTime64(3)"
        if fmt == "date" or airbyte_type == "date":
            return "Date32"
        return "String"  # including time formats
    if kind == "integer" or (kind == "number" and airbyte_type == "integer"):
        return "Int64"
    if kind == "number":
        return "Decimal(38, 9)"
    if kind == "boolean":
        return "Bool"
    return "JSON String"  # object, array


@dataclass(frozen=True)
class Column:
    field: str  # the record's property name
    name: str  # the ClickHouse column name
    type: str  # as in column_type()
    nullable: bool

    @property
    def ddl_type(self) -> str:
        return self._nullable("String" if self.type == "JSON String" else self.type)

    @property
    def insert_type(self) -> str:
        """The type the rows are sent as: decimals go as text (see `_number`)."""
        if self.type in ("JSON String", "Decimal(38, 9)"):
            return self._nullable("String")
        return self.ddl_type

    def _nullable(self, base: str) -> str:
        return f"Nullable({base})" if self.nullable else base


@dataclass(frozen=True)
class TableSchema:
    """Everything the destination derives from one configured stream."""

    stream: str
    table: str
    mode: str  # overwrite | append | append_dedup
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]  # column names
    version: str | None  # ReplacingMergeTree version column (append_dedup only)

    @property
    def engine(self) -> str:
        if self.mode != "append_dedup":
            return "MergeTree()"
        return f"ReplacingMergeTree({quote(self.version or EXTRACTED_AT)})"

    @property
    def order_by(self) -> str:
        if self.mode != "append_dedup":
            return RAW_ID
        return ",".join(quote(c) for c in self.primary_key)

    @property
    def insert_columns(self) -> list[str]:
        return [name for name, _ in META_COLUMNS] + [c.name for c in self.columns]

    @property
    def insert_types(self) -> list[str]:
        return [kind for _, kind in META_COLUMNS] + [c.insert_type for c in self.columns]

    def create_sql(
        self,
        database: str,
        table: str | None = None,
        replace: bool = False,
        cluster: str | None = None,
    ) -> str:
        """`CREATE [OR REPLACE] TABLE`, as `ClickhouseSqlGenerator.createTable` writes it;
        on a cluster `ON CLUSTER` with the engine's Replicated form."""
        lines = [f"{name} {kind} NOT NULL" for name, kind in META_COLUMNS]
        lines += [f"{quote(c.name)} {c.ddl_type}" for c in self.columns]
        return (
            f"CREATE {'OR REPLACE ' if replace else ''}TABLE "
            f"{quote(database)}.{quote(table or self.table)}{on_cluster(cluster)} (\n  "
            + ",\n  ".join(lines)
            + f"\n)\nENGINE = {replicated(self.engine, cluster)}\nORDER BY ({self.order_by})"
        )


def table_schema(
    stream: str,
    json_schema: Mapping[str, Any],
    mode: str,
    primary_key: Sequence[Sequence[str]] = (),
    cursor: Sequence[str] = (),
) -> TableSchema:
    """Map one configured stream to its table, as the destination's schema mapper does."""
    if mode not in SYNC_MODES:
        raise CatalogError(
            f"Stream {stream!r}: unknown sync mode {mode!r}; use one of {', '.join(SYNC_MODES)}."
        )
    for path in primary_key:
        if len(path) != 1:
            raise CatalogError(
                f"Stream {stream!r}: only top-level primary keys are supported, got {list(path)}."
            )
    pk_fields = [path[0] for path in primary_key] if mode == "append_dedup" else []
    if mode == "append_dedup" and not pk_fields:
        raise CatalogError(
            f"Stream {stream!r} has no primary key, so append_dedup cannot deduplicate it; "
            "choose append or overwrite for it."
        )
    properties: Mapping[str, Any] = json_schema.get("properties") or {}
    missing = [f for f in pk_fields if f not in properties]
    if missing:
        raise CatalogError(
            f"Stream {stream!r}: primary key field(s) {missing} are not in its JSON schema."
        )
    types = {field: column_type(prop or {}) for field, prop in properties.items()}
    cursor_field = cursor[0] if mode == "append_dedup" and len(cursor) == 1 else None
    version = cursor_field if cursor_field and types.get(cursor_field) in VERSION_TYPES else None
    not_null = set(pk_fields) | ({version} if version else set())
    columns = tuple(
        Column(field, compatible_name(field), types[field], field not in not_null)
        for field in properties
    )
    names = [c.name for c in columns]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes or set(names) & {name for name, _ in META_COLUMNS}:
        raise CatalogError(
            f"Stream {stream!r}: fields map to the same ClickHouse column "
            f"{clashes or sorted(set(names) & {n for n, _ in META_COLUMNS})}; "
            "rename them in the connector's schema."
        )
    by_field = {c.field: c.name for c in columns}
    return TableSchema(
        stream=stream,
        table=compatible_name(stream),
        mode=mode,
        columns=columns,
        primary_key=tuple(by_field[f] for f in pk_fields),
        version=by_field[version] if version else None,
    )


class RowBuilder:
    """Turns record data into one insert row of a table, nulling what the destination nulls."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self._fields = [(c.field, _CONVERTERS[c.type], c.nullable) for c in schema.columns]

    def values(self, data: Mapping[str, Any], changes: list[dict[str, str]]) -> list[Any]:
        """The user column values; appends an entry to `changes` for each nulled value.

        Raises ValueError for a null primary-key or version value (the destination fails).
        """
        row: list[Any] = []
        append = row.append
        for field, convert, nullable in self._fields:
            value = data.get(field)
            if value is not None:
                try:
                    value = convert(value)
                except Nulled as nulled:
                    value = None
                    changes.append({"field": field, "change": "NULLED", "reason": nulled.reason})
            if value is None and not nullable:
                raise ValueError(field)
            append(value)
        return row
