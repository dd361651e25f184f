"""ClickHouse's HTTP interface served from chDB: the test fixture of the server path.

No ClickHouse server can be installed where the tests run, so this process stands in for
one: the part of the HTTP interface (https://clickhouse.com/docs/interfaces/http) that
clickhouse-connect and dbt-clickhouse use, answered by the real ClickHouse engine (chDB).

- `GET /ping` and `GET /` answer `Ok.`.
- The query comes from the `query` parameter, the body, or both (the parameter first, then
  the body, as ClickHouse reads them); `multipart/form-data` fields work too. An `INSERT ...
  FORMAT <fmt>` followed by data ingests the data as a file, so binary formats (Native) work.
- `database`, `default_format`, `param_<name>` (bound query parameters), `session_id` and any
  other parameter as a setting for that query only. A session keeps its own `SET`s, `USE`
  and temporary tables (one chDB connection per session); requests without one get a fresh
  connection. Two requests at once in one session get ClickHouse's SESSION_IS_LOCKED.
- Users by basic auth, `X-ClickHouse-User`/`X-ClickHouse-Key` headers, or `user`/`password`
  parameters; anyone else gets AUTHENTICATION_FAILED (403).
- Request bodies compressed with lz4, zstd, gzip or deflate (`Content-Encoding`), plain or
  chunked. Responses are not compressed (a server may always answer plainly).
- Errors as ClickHouse reports them: the status code its `exceptionCodeToHTTPStatus` gives,
  `X-ClickHouse-Exception-Code`, and the exception text with its version trailer.
- `--cluster NAME` emulates one node of a cluster NAME: every statement with `ON CLUSTER` is
  first parsed by ClickHouse's own parser (`formatQuery`), then run without the clause;
  `Replicated*MergeTree` engines run as their non-replicated engine, `SYSTEM SYNC REPLICA` is
  a no-op, and `clusterAllReplicas(NAME, t)` reads `t`. Without `--cluster`, no cluster exists.
- `--log FILE` appends every statement as received (JSON lines), for tests to inspect.
- `--tls` serves HTTPS with a self-signed certificate (written to `<path>/tls/`).

chDB locks its directory per process, which is why this is a process of its own:

    python integration_tests/clickhouse_server.py --path DIR --user dbt:secret [--cluster c]

It prints `listening <port>` once it accepts connections, and serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import email.parser
import gzip
import json
import os
import re
import ssl
import sys
import tempfile
import threading
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb

# Parameters the HTTP layer consumes; every other one is a setting (or `param_*`).
TRANSPORT = {
    "query", "database", "default_format", "session_id", "session_timeout", "session_check",
    "query_id", "user", "password", "quota_key", "buffer_size", "wait_end_of_query",
    "compress", "decompress", "enable_http_compression", "send_progress_in_http_headers",
    "http_headers_progress_interval_ms", "client_protocol_version", "role",
}  # fmt: skip
# exceptionCodeToHTTPStatus.cpp, by error name (the rest is 500).
STATUS = {
    "REQUIRED_PASSWORD": 401,
    **dict.fromkeys(
        ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "ACCESS_DENIED"), 403
    ),
    **dict.fromkeys(
        ("BAD_ARGUMENTS", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME",
         "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "DUPLICATE_COLUMN",
         "ILLEGAL_COLUMN", "THERE_IS_NO_COLUMN", "SYNTAX_ERROR", "INCORRECT_DATA",
         "TYPE_MISMATCH", "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"),
        400,
    ),
    **dict.fromkeys(
        ("UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE",
         "UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_FORMAT",
         "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY"),
        404,
    ),
    "NOT_IMPLEMENTED": 501,
    "TIMEOUT_EXCEEDED": 408,
}  # fmt: skip
RESULT_STATEMENTS = re.compile(r"\s*\(*\s*(SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN)\b", re.I)
TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*\Z", re.I)
INSERT_HEAD = re.compile(
    rb"\A\s*(INSERT\s+INTO\s[^'\n]*?)\s*\bFORMAT\s+(\w+)[ \t]*(?:\r?\n|\Z)", re.I
)
ON_CLUSTER = re.compile(r"\bON\s+CLUSTER\s+(?:\"([^\"]+)\"|`([^`]+)`|'([^']+)'|(\w+))", re.I)
REPLICATED = re.compile(r"\bReplicated(\w*MergeTree)\b(\s*\((?:\s*'[^']*'\s*,\s*'[^']*'\s*,?)?)?")
ALL_REPLICAS = re.compile(
    r"\bcluster(?:AllReplicas)?\(\s*(?:\"[^\"]+\"|'[^']+'|\w+)\s*,\s*([\w.]+)\s*\)"
)


class ClickHouseException(Exception):
    """An exception as ClickHouse reports it: code, name and message."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(f"Code: {code}. DB::Exception: {message}. ({name})")
        self.code, self.name = code, name

    @classmethod
    def from_chdb(cls, error: Exception) -> ClickHouseException:
        text = str(error)
        found = re.search(r"Code: (\d+)\. DB::Exception: (.*)\((\w+)\)\s*$", text, re.S)
        if not found:
            return cls(1001, "STD_EXCEPTION", text.strip())
        return cls(int(found[1]), found[3], found[2].strip().rstrip("."))


class Engine:
    """chDB connections: one per session, a fresh one for every sessionless request."""

    def __init__(self, path: str, cluster: str | None, log: Path | None) -> None:
        self.path, self.cluster, self.log = path, cluster, log
        # Held open for the server's life: the engine (and its Memory tables) lives as long
        # as one connection does.
        self._engine = chdb.connect(path)
        self.version = self._engine.query("SELECT version()", "TSV").bytes().decode().strip()
        self._sessions: dict[str, tuple[Any, threading.Lock]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def connection(self, session: str | None) -> Iterator[Any]:
        if not session:
            conn = chdb.connect(self.path)
            try:
                yield conn
            finally:
                conn.close()
            return
        with self._lock:
            if session not in self._sessions:
                self._sessions[session] = (chdb.connect(self.path), threading.Lock())
            conn, lock = self._sessions[session]
        if not lock.acquire(blocking=False):
            raise ClickHouseException(
                373, "SESSION_IS_LOCKED", f"Session {session} is locked by a concurrent client"
            )
        try:
            yield conn
        finally:
            lock.release()

    def rewrite(self, conn: Any, sql: str) -> str:
        """What one node of `self.cluster` runs of a statement (see the module docstring)."""
        for match in ON_CLUSTER.finditer(sql):
            name = next(group for group in match.groups() if group)
            if name != self.cluster:
                raise ClickHouseException(
                    701, "CLUSTER_DOESNT_EXIST", f"Requested cluster '{name}' not found"
                )
            run(conn, f"SELECT formatQuery({quote_string(sql)})", "TSV")  # parses as is
        if self.cluster is None:
            return sql
        if re.match(r"\s*SYSTEM\s+SYNC\s+REPLICA\b", strip_comments(sql), re.I):
            return ""
        sql = ON_CLUSTER.sub("", sql)
        sql = REPLICATED.sub(lambda m: m[1] + ("(" if m[2] else ""), sql)
        return ALL_REPLICAS.sub(r"(SELECT *, 1 AS _shard_num FROM \1)", sql)

    def execute(
        self, query: bytes, params: dict[str, str], session: str | None
    ) -> tuple[bytes, str | None]:
        """Run one request's statement; return (output, format) with format None for a
        statement that produces no result set."""
        bound = {k.removeprefix("param_"): v for k, v in params.items() if k.startswith("param_")}
        settings = {
            k: v for k, v in params.items() if k not in TRANSPORT and not k.startswith("param_")
        }
        fmt = params.get("default_format") or "TabSeparated"
        with self.connection(session) as conn, tempfile.TemporaryDirectory() as tmp:
            insert = INSERT_HEAD.match(query)
            if insert:  # the data after the statement is read as a file, as the server reads it
                data = Path(tmp, "data")
                data.write_bytes(query[insert.end() :])
                head = insert[1].decode()
                settings_at = re.search(r"\sSETTINGS\s", head, re.I)
                cut = settings_at.start() if settings_at else len(head)
                sql = (
                    f"{head[:cut]} FROM INFILE {quote_string(str(data))} COMPRESSION 'none'"
                    f"{head[cut:]} FORMAT {insert[2].decode()}"
                )
            else:
                sql = query.decode()
            self._log(sql, params)
            sql = self.rewrite(conn, sql)
            if not sql.strip():
                return b"", None
            explicit = TRAILING_FORMAT.search(sql)
            if explicit and not insert:
                fmt = explicit[1]
            with applied(conn, settings), used(conn, params.get("database")):
                out = run(conn, sql, fmt, bound)
        result_set = (explicit and not insert) or RESULT_STATEMENTS.match(strip_comments(sql))
        return out, fmt if result_set else None

    def _log(self, sql: str, params: dict[str, str]) -> None:
        if self.log is not None:
            entry = {"sql": sql, "params": {k: v for k, v in params.items() if k != "password"}}
            with self._lock, self.log.open("a") as out:
                out.write(json.dumps(entry) + "\n")


@contextmanager
def applied(conn: Any, settings: dict[str, str]) -> Iterator[None]:
    """Settings for one statement: SET before, the connection's values restored after."""
    if not settings:
        yield
        return
    names = ", ".join(quote_string(name) for name in settings)
    sql = f"SELECT name, value, changed FROM system.settings WHERE name IN ({names})"
    before = run(conn, sql, "JSONEachRow")
    saved = {row["name"]: row for row in map(json.loads, before.splitlines())}
    try:
        for name, value in settings.items():
            if name not in saved:
                raise ClickHouseException(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
            run(conn, f"SET {quote_identifier(name)} = {quote_string(value)}", "TSV")
        yield
    finally:
        for name, row in saved.items():
            value = quote_string(row["value"]) if row["changed"] else "DEFAULT"
            run(conn, f"SET {quote_identifier(name)} = {value}", "TSV")


@contextmanager
def used(conn: Any, database: str | None) -> Iterator[None]:
    """The `database` of one statement; the connection's own current database after."""
    if not database:
        yield
        return
    before = run(conn, "SELECT currentDatabase()", "TSV").decode().strip()
    run(conn, f"USE {quote_identifier(database)}", "TSV")
    try:
        yield
    finally:
        run(conn, f"USE {quote_identifier(before)}", "TSV")


def run(conn: Any, sql: str, fmt: str, params: dict[str, str] | None = None) -> bytes:
    try:
        return conn.query(sql, fmt, params=params or {}).bytes() or b""
    except ClickHouseException:
        raise
    except Exception as error:  # chDB raises its errors as one type; the text has the code
        raise ClickHouseException.from_chdb(error) from None


def quote_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)


def decompress(data: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        return data
    if encoding == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    if encoding == "zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found]
        except ImportError:
            from backports import zstd  # type: ignore[no-redef]
        return zstd.decompress(data)
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    raise ClickHouseException(
        336, "UNKNOWN_COMPRESSION_METHOD", f"Unknown compression method {encoding}"
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read answers, not access logs

    def do_GET(self) -> None:
        self.handle_query()

    def do_POST(self) -> None:
        self.handle_query()

    def handle_query(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self.read_body()
        if url.path == "/ping" or (url.path == "/" and not body and "query" not in params):
            self.answer(200, b"Ok.\n", {})
            return
        query_id = params.get("query_id") or str(uuid.uuid4())
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": "UTC"}
        try:
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                params |= form_fields(self.headers["Content-Type"], body)
                body = b""
            self.authenticate(params)
            text = params.get("query", "").encode()
            query = text + b"\n" + body if text and body else text or body
            if not query.strip():
                raise ClickHouseException(62, "SYNTAX_ERROR", "Empty query")
            out, fmt = self.server.engine.execute(query, params, params.get("session_id"))
        except ClickHouseException as error:
            body_text = f"{error} (version {self.server.engine.version})\n".encode()
            headers["X-ClickHouse-Exception-Code"] = str(error.code)
            self.answer(STATUS.get(error.name, 500), body_text, headers)
            return
        if fmt is not None:
            headers["X-ClickHouse-Format"] = fmt
        headers["X-ClickHouse-Summary"] = json.dumps({"read_rows": "0", "written_rows": "0"})
        self.answer(200, out, headers)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            data = b"".join(chunks)
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return decompress(data, self.headers.get("Content-Encoding", "").lower())

    def authenticate(self, params: dict[str, str]) -> None:
        user, password = "default", ""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        elif "X-ClickHouse-User" in self.headers:
            user = self.headers["X-ClickHouse-User"]
            password = self.headers.get("X-ClickHouse-Key", "")
        elif "user" in params:
            user, password = params["user"], params.get("password", "")
        if self.server.users.get(user) != password:
            raise ClickHouseException(
                516,
                "AUTHENTICATION_FAILED",
                f"{user}: Authentication failed: password is incorrect, or there is no user "
                "with such name",
            )

    def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a multipart/form-data body (`query`, `param_*`)."""
    message = email.parser.BytesParser().parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
        for part in message.get_payload()
    }


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, engine: Engine, users: dict[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.engine, self.users = engine, users


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A TLS context with a fresh self-signed certificate for 127.0.0.1 and localhost."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clickhouse-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="chDB directory")
    parser.add_argument(
        "--user", action="append", default=[], metavar="NAME:PASSWORD", help="repeatable"
    )
    parser.add_argument("--cluster", help="emulate one node of this cluster")
    parser.add_argument("--log", type=Path, help="append every statement here (JSON lines)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (self-signed)")
    args = parser.parse_args(argv)
    users = dict(user.partition(":")[::2] for user in args.user) or {"default": ""}
    os.makedirs(args.path, exist_ok=True)
    server = Server(Engine(args.path, args.cluster, args.log), users)
    if args.tls:
        context = self_signed_context(Path(args.path) / "tls")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
