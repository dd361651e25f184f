"""`MockServer`: the CDK's `HttpMocker` grammar over a real local HTTP server.

The mock-server tests run the connector's production path in-process: day workers are
forked processes, and requests made in another process never reach `HttpMocker` (it patches
`requests` inside one process). So the same matchers (`HttpRequest`/`HttpResponse`, matched
by the CDK's own `HttpRequest.matches`) are served here over a socket. As with `HttpMocker`,
the mock is the assertion: a request nobody registered is answered with HTTP 404 and fails
the test, and every registered request must be made exactly as many times as it has
responses (`may_get` registers one that a day worker reading ahead may or may not make).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse


class _Matcher:
    def __init__(self, request: HttpRequest, responses: list[HttpResponse], optional: bool):
        self.request, self.responses, self.optional = request, responses, optional
        self.calls = 0

    def answer(self) -> HttpResponse:
        self.calls += 1
        return self.responses[min(self.calls, len(self.responses)) - 1]

    def unmet(self) -> str | None:
        expected = len(self.responses)
        if self.calls == expected or (self.optional and self.calls <= expected):
            return None
        return f"{self.request} was requested {self.calls} times, expected {expected}"


class MockServer(contextlib.ContextDecorator):
    """One server per test process; `with MockServer() as server:` (or `@MockServer()` on a
    `TestCase` method, which receives it as an argument) registers matchers for one test."""

    _server: ThreadingHTTPServer | None = None
    _active: MockServer | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._matchers: list[_Matcher] = []
        self._unexpected: list[str] = []

    @classmethod
    def url(cls) -> str:
        """The base URL of this process's server (started on first use)."""
        if cls._server is None:
            cls._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            cls._server.daemon_threads = True
            threading.Thread(target=cls._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{cls._server.server_address[1]}"

    def get(self, request: HttpRequest, responses: HttpResponse | list[HttpResponse]) -> None:
        self._register(request, responses, optional=False)

    def may_get(self, request: HttpRequest, responses: HttpResponse | list[HttpResponse]) -> None:
        """A request that may be made at most once per response (read ahead, then dropped)."""
        self._register(request, responses, optional=True)

    def _register(
        self, request: HttpRequest, responses: HttpResponse | list[HttpResponse], optional: bool
    ) -> None:
        listed = responses if isinstance(responses, list) else [responses]
        with self._lock:
            self._matchers.append(_Matcher(request, listed, optional))

    def answer(self, request: HttpRequest) -> HttpResponse | None:
        with self._lock:
            for matcher in self._matchers:
                if request.matches(matcher.request):  # as HttpMocker: headers a subset
                    return matcher.answer()
            self._unexpected.append(str(request))
        return None

    def __enter__(self) -> MockServer:
        self.url()
        MockServer._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._drain()
        MockServer._active = None
        if exc[0] is not None:
            return
        problems = [f"unexpected request: {request}" for request in self._unexpected]
        problems += [p for m in self._matchers if (p := m.unmet())]
        if problems:
            raise AssertionError("\n".join(problems))

    @classmethod
    def _drain(cls) -> None:
        """Waits until every request sent so far is answered (a worker killed at the end of
        a test may have sent one the server has not read yet): connections are accepted in
        order, so once a request of ours is answered, only handlers already running remain,
        and this test's matchers count what they answer, not the next test's."""
        urllib.request.urlopen(cls.url() + _DRAIN, timeout=30).close()
        deadline = time.monotonic() + 30
        while _Handler.running and time.monotonic() < deadline:  # ours finishes too
            time.sleep(0.005)

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:  # type: ignore[override]
        @functools.wraps(function)
        def with_server(*args: Any, **kwargs: Any) -> Any:
            with MockServer() as server:
                return function(*args, server, **kwargs)

        return with_server


_DRAIN = "/__drain__"


class _Handler(BaseHTTPRequestHandler):
    running = 0  # handlers at work, for MockServer._drain
    _count = threading.Lock()

    def handle(self) -> None:
        with self._count:
            _Handler.running += 1
        try:
            super().handle()
        finally:
            with self._count:
                _Handler.running -= 1

    def do_GET(self) -> None:
        if self.path == _DRAIN:
            self._send(204, b"", {})
            return
        host, port = self.server.server_address[:2]
        request = HttpRequest(f"http://{host}:{port}{self.path}", headers=dict(self.headers))
        active = MockServer._active
        response = active.answer(request) if active else None
        if response is None:
            self._send(404, b'{"code":404,"message":"no mock for this request"}', {})
            return
        body = response.body if isinstance(response.body, bytes) else response.body.encode()
        self._send(response.status_code, body, response.headers)

    def _send(self, status: int, body: bytes, headers: Any) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in dict(headers).items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def iter_lines(path: Any) -> Iterator[str]:
    with open(path) as file:
        yield from (line.rstrip("\n") for line in file if line.strip())
