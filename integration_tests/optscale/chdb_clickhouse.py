"""clickhouse-driver's `Client` answered by embedded ClickHouse (chDB), for OptScale's code.

OptScale talks to ClickHouse through `clickhouse_driver.Client.execute`. This replaces only
the network connection under it: the driver's own code still substitutes parameters, maps
INSERT rows (dict rows by the table's columns, so a missing key raises `KeyError` as against
a server), and assembles results (a `WITH TOTALS` row appended last). Queries run on chDB,
whose Native output the driver's own block reader decodes.
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections import deque
from datetime import date, datetime
from typing import Any

import clickhouse_driver
from chdb import session as chdb_session
from clickhouse_driver.block import RowOrientedBlock
from clickhouse_driver.bufferedreader import BufferedSocketReader
from clickhouse_driver.connection import Connection, Packet, ServerInfo
from clickhouse_driver.protocol import ServerPacketTypes
from clickhouse_driver.streams.native import BlockInputStream
from clickhouse_driver.util.escape import escape_param

INSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[\w.`]+)\s*(\((?P<columns>[^)]*)\))?\s*VALUES\s*$",
    re.IGNORECASE,
)
TOTALS = re.compile(r"\bWITH\s+TOTALS\b", re.IGNORECASE)


class _Bytes:
    """A socket-like object over bytes, for the driver's buffered reader."""

    def __init__(self, data: bytes):
        self.stream = io.BytesIO(data)

    def recv_into(self, buffer: Any) -> int:
        return self.stream.readinto(buffer)


class ChdbEngine:
    """One chDB session shared by every client of a process (one engine per process)."""

    def __init__(self, path: str | None = None):
        self.session = chdb_session.Session(path) if path else chdb_session.Session()
        self.session.query("SET session_timezone = 'UTC'")

    def native(self, sql: str) -> bytes:
        return self.session.query(sql, "Native").bytes()

    def totals(self, sql: str) -> tuple[list[tuple[str, str]], list[Any]] | None:
        lines = self.session.query(sql, "JSONCompactEachRowWithProgress").data().splitlines()
        parsed = [json.loads(line) for line in lines if line.strip()]
        meta = next(p["meta"] for p in parsed if "meta" in p)
        totals = next((p["totals"] for p in parsed if "totals" in p), None)
        if totals is None:
            return None
        types = [(m["name"], m["type"]) for m in meta]
        return types, [_from_json(t, v) for (_, t), v in zip(types, totals, strict=True)]


@functools.cache
def engine() -> ChdbEngine:
    """The process's chDB engine (chDB allows one per process)."""
    return ChdbEngine()


def _from_json(kind: str, value: Any) -> Any:
    """A JSONCompact value of ClickHouse type `kind` as clickhouse-driver returns it."""
    if value is None:
        return None
    inner = re.fullmatch(r"(?:Nullable|LowCardinality)\((.*)\)", kind)
    if inner:
        return _from_json(inner.group(1), value)
    if kind.startswith(("Int", "UInt")):
        return int(value)
    if kind.startswith("Float"):
        return float(value)
    if kind.startswith("DateTime"):
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    if kind == "Date":
        return date.fromisoformat(value)
    return value


class ChdbConnection(Connection):
    """The driver's Connection with chDB in place of the native-protocol socket."""

    def force_connect(self) -> None:
        self.context.server_info = ServerInfo("chDB", 26, 9, 0, 0, "UTC", "chdb", 0)
        self.connected = True

    def connect(self) -> None:
        self.force_connect()

    def disconnect(self) -> None:
        self.connected = False

    def send_query(self, query: str, query_id: Any = None, params: Any = None) -> None:
        self.query = query
        self.packets: deque[Packet] = deque()
        self.inserted_into: tuple[str, list[tuple[str, str]]] | None = None
        self.external: list[dict[str, Any]] = []
        self.pending = True

    def send_external_tables(self, tables: Any, types_check: bool = False) -> None:
        self.external = list(tables or [])

    def receive_packet(self) -> Packet:
        if self.pending:
            self.pending = False
            self._run()
        if self.packets:
            return self.packets.popleft()
        return _packet(ServerPacketTypes.END_OF_STREAM)

    def send_data(self, block: Any, table_name: str = "") -> None:
        if self.inserted_into is None or not block.num_rows:
            return
        table, columns = self.inserted_into
        names = ", ".join(f"`{name}`" for name, _ in columns)
        values = ",".join(
            "(" + ",".join(str(escape_param(v, self.context)) for v in row) + ")"
            for row in block.get_rows()
        )
        engine().session.query(f"INSERT INTO {table} ({names}) VALUES {values}")

    def _run(self) -> None:
        insert = INSERT.match(self.query)
        if insert:
            self._prepare_insert(insert)
            return
        created = [self._external_table(t) for t in self.external]
        try:
            data = engine().native(self.query)
            blocks = _blocks(data, self.context)
            for block in blocks:
                self.packets.append(_packet(ServerPacketTypes.DATA, block))
            if TOTALS.search(self.query):
                totals = engine().totals(self.query)
                if totals is not None:
                    types, row = totals
                    self.packets.append(
                        _packet(ServerPacketTypes.TOTALS, RowOrientedBlock(types, [tuple(row)]))
                    )
        finally:
            for name in created:
                engine().session.query(f"DROP TABLE IF EXISTS `{name}`")

    def _prepare_insert(self, insert: re.Match[str]) -> None:
        """The sample block a server sends for INSERT ... VALUES: the table's columns."""
        table = insert.group("table")
        described = _blocks(engine().native(f"DESCRIBE TABLE {table}"), self.context)
        columns = [
            (row[0], row[1])
            for block in described
            for row in block.get_rows()
            if row[2] not in ("MATERIALIZED", "ALIAS")
        ]
        if insert.group("columns"):
            wanted = [c.strip(" `") for c in insert.group("columns").split(",")]
            kinds = dict(columns)
            columns = [(name, kinds[name]) for name in wanted]
        self.inserted_into = (table, columns)
        self.packets.append(_packet(ServerPacketTypes.DATA, RowOrientedBlock(columns, [])))

    def _external_table(self, table: dict[str, Any]) -> str:
        name = table["name"]
        structure = table["structure"]
        columns = ", ".join(f"`{n}` {t}" for n, t in structure)
        engine().session.query(f"CREATE TABLE `{name}` ({columns}) ENGINE = Memory")
        block = RowOrientedBlock(structure, list(table["data"]))
        if block.num_rows:
            self.inserted_into = (f"`{name}`", structure)
            self.send_data(block)
            self.inserted_into = None
        return name


def _packet(kind: int, block: Any = None) -> Packet:
    packet = Packet()
    packet.type = kind
    packet.block = block
    return packet


def _blocks(data: bytes, context: Any) -> list[Any]:
    """Every block of chDB's Native output, read by the driver's own block reader."""
    source = BlockInputStream(BufferedSocketReader(_Bytes(data), 1 << 20), context)
    blocks = []
    while data:
        try:
            blocks.append(source.read())
        except EOFError:  # the end of the output, between two blocks
            break
    return blocks


class Client(clickhouse_driver.Client):
    """`clickhouse_driver.Client` whose connection is chDB; the rest is the driver's code."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        connection = ChdbConnection(*args, **kwargs)
        self.connections = deque()
        self.connection = connection
        self.connection = self.get_connection()  # sets the context's settings


def install() -> None:
    """Make every `from clickhouse_driver import Client` in OptScale's code get this one."""
    clickhouse_driver.Client = Client  # type: ignore[misc]
