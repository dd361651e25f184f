"""The ClickHouse HTTP test server answers as ClickHouse's HTTP interface documents
(https://clickhouse.com/docs/interfaces/http), in raw HTTP, without a client library."""

from __future__ import annotations

import base64
import gzip
import http.client
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest


def request(
    server: Any,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/",
    auth: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = dict(headers or {})
    if auth and "X-ClickHouse-User" not in headers:
        token = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    query = f"?{urlencode(params)}" if params else ""
    method = "POST" if body is not None else "GET"
    chunked = headers.get("Transfer-Encoding") == "chunked"
    connection.request(method, path + query, body, headers, encode_chunked=chunked)
    response = connection.getresponse()
    answer = (response.status, dict(response.getheaders()), response.read())
    connection.close()
    return answer


def test_ping_and_root_answer_ok(clickhouse_server):
    assert request(clickhouse_server, path="/ping", auth=False)[::2] == (200, b"Ok.\n")
    assert request(clickhouse_server, auth=False)[::2] == (200, b"Ok.\n")


def test_query_in_the_url_in_the_body_or_both(clickhouse_server):
    _, headers, out = request(clickhouse_server, {"query": "SELECT 1 + 1"})
    assert out == b"2\n" and headers["X-ClickHouse-Format"] == "TabSeparated"
    assert request(clickhouse_server, body=b"SELECT 'body'")[2] == b"body\n"
    assert request(clickhouse_server, {"query": "SELECT"}, b"'both'")[2] == b"both\n"


def test_output_format_from_default_format_or_the_query(clickhouse_server):
    params = {"query": "SELECT 1 AS x", "default_format": "JSONEachRow"}
    assert request(clickhouse_server, params)[2] == b'{"x":1}\n'
    _, headers, out = request(clickhouse_server, {"query": "SELECT 1 AS x FORMAT CSVWithNames"})
    assert out == b'"x"\n1\n' and headers["X-ClickHouse-Format"] == "CSVWithNames"


def test_bound_parameters_database_and_settings(clickhouse_server):
    params = {
        "query": "SELECT {v:String}, currentDatabase()",
        "param_v": "it's",
        "database": "system",
    }
    assert request(clickhouse_server, params)[2] == b"it\\'s\tsystem\n"
    params = {"query": "SELECT getSetting('max_threads')", "max_threads": "3"}
    assert request(clickhouse_server, params)[2] == b"3\n"
    status, headers, _out = request(
        clickhouse_server, {"query": "SELECT 1", "no_such_setting": "1"}
    )
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "115")


def test_users_by_basic_auth_headers_or_parameters(clickhouse_server):
    by_headers = {
        "X-ClickHouse-User": clickhouse_server.user,
        "X-ClickHouse-Key": clickhouse_server.password,
    }
    assert request(clickhouse_server, {"query": "SELECT 1"}, headers=by_headers)[2] == b"1\n"
    by_params = {
        "query": "SELECT 1",
        "user": clickhouse_server.user,
        "password": clickhouse_server.password,
    }
    assert request(clickhouse_server, by_params, auth=False)[2] == b"1\n"
    wrong = {"X-ClickHouse-User": clickhouse_server.user, "X-ClickHouse-Key": "wrong"}
    status, headers, out = request(clickhouse_server, {"query": "SELECT 1"}, headers=wrong)
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (403, "516")
    assert out.startswith(b"Code: 516. DB::Exception: pipeline: Authentication failed")
    assert request(clickhouse_server, {"query": "SELECT 1"}, auth=False)[0] == 403  # default


def test_exceptions_as_clickhouse_reports_them(clickhouse_server):
    status, headers, out = request(clickhouse_server, {"query": "SELECT * FROM nowhere.t"})
    assert status == 404 and headers["X-ClickHouse-Exception-Code"] == "81"
    assert out.startswith(b"Code: 81. DB::Exception: ") and b"(UNKNOWN_DATABASE) (version " in out
    status, headers, _ = request(clickhouse_server, {"query": "SELEC 1"})
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "62")


def test_sessions_keep_settings_and_temporary_tables(clickhouse_server):
    session = {"session_id": str(uuid.uuid4())}
    request(clickhouse_server, {**session, "query": "SET max_threads = 2"})
    request(clickhouse_server, {**session, "query": "CREATE TEMPORARY TABLE t (x UInt8)"})
    request(clickhouse_server, {**session, "query": "INSERT INTO t VALUES (7)"})
    assert (
        request(
            clickhouse_server, {**session, "query": "SELECT getSetting('max_threads'), x FROM t"}
        )[2]
        == b"2\t7\n"
    )
    in_system = {**session, "query": "SELECT currentDatabase()", "database": "system"}
    assert request(clickhouse_server, in_system)[2] == b"system\n"  # for that query only
    assert (
        request(clickhouse_server, {**session, "query": "SELECT currentDatabase()"})[2]
        == b"default\n"
    )
    other = {"session_id": str(uuid.uuid4()), "query": "SELECT * FROM t"}
    assert request(clickhouse_server, other)[0] == 404  # another session has no t


@pytest.mark.parametrize("encoding", ["gzip", "chunked"])
def test_inserts_with_data_in_the_body_compressed_or_chunked(clickhouse_server, encoding):
    table = f"default.t_{uuid.uuid4().hex[:8]}"
    request(
        clickhouse_server, {"query": f"CREATE TABLE {table} (x UInt8, s String) ENGINE = Memory"}
    )
    data = b"1\ta\n2\tb\n"
    if encoding == "gzip":
        answer = request(clickhouse_server, {"query": f"INSERT INTO {table} FORMAT TabSeparated"},
                         gzip.compress(data), {"Content-Encoding": "gzip"})  # fmt: skip
    else:
        answer = request(clickhouse_server, {"query": f"INSERT INTO {table} FORMAT TabSeparated"},
                         iter([data[:5], data[5:]]), {"Transfer-Encoding": "chunked"})  # fmt: skip
    assert answer[0] == 200 and "X-ClickHouse-Format" not in answer[1]
    assert request(clickhouse_server, {"query": f"SELECT * FROM {table} ORDER BY x"})[2] == data
    request(clickhouse_server, {"query": f"DROP TABLE {table}"})


def test_multipart_form_data_carries_the_query_and_parameters(clickhouse_server):
    boundary = "kubecost-boundary"
    parts = [("query", "SELECT {n:UInt8} * 2"), ("param_n", "21")]
    field = '--{}\r\nContent-Disposition: form-data; name="{}"\r\n\r\n{}\r\n'
    body = (
        b"".join(field.format(boundary, name, value).encode() for name, value in parts)
        + f"--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    assert request(clickhouse_server, body=body, headers=headers)[2] == b"42\n"
