"""A receiver for Airbyte's "Successful syncs" webhook, for teams without an orchestrator.

Airbyte posts ``{"data": {"connection": {"id": ...}, "success": true, ...}}`` to a URL of
your choice after each sync of the workspace. The receiver checks a shared secret (sent as
``?token=`` in that URL, or an ``Authorization: Bearer`` header), ignores failed syncs and
other connections, and runs ``dbt build`` and the CloudTuner hook for a matching
connection. Runs never overlap: a notification that arrives during a run is coalesced into
one more run after it, so the marts always reflect the latest load.
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

log = logging.getLogger(__name__)

PATH = "/airbyte/sync-succeeded"


class SerialRunner:
    """Runs ``job`` in a background thread, one at a time; requests during a run coalesce."""

    def __init__(self, job: Callable[[str], object]) -> None:
        self._job = job
        self._lock = threading.Lock()
        self._running = False
        self._pending: str | None = None
        self.idle = threading.Event()
        self.idle.set()
        self.runs = 0
        self.failures = 0

    def request(self, connection_id: str) -> str:
        """Start a run, or queue one after the current run. Returns "started" or "queued"."""
        with self._lock:
            if self._running:
                self._pending = connection_id
                return "queued"
            self._running = True
            self.idle.clear()
        threading.Thread(target=self._loop, args=(connection_id,), daemon=True).start()
        return "started"

    def _loop(self, connection_id: str) -> None:
        while True:
            try:
                self._job(connection_id)
            except Exception:
                self.failures += 1
                log.exception("post-sync run for connection %s failed", connection_id)
            self.runs += 1
            with self._lock:
                if self._pending is None:
                    self._running = False
                    self.idle.set()
                    return
                connection_id, self._pending = self._pending, None


# Airbyte's notification is a few kilobytes; anything much bigger is not Airbyte.
MAX_BODY_BYTES = 1 << 20
# Airbyte does not retry a webhook: a burst of notifications (many connections finishing at
# once) must all be accepted, so the listen queue is far deeper than http.server's 5.
LISTEN_BACKLOG = 128
# A client that stops sending mid-request frees its thread after this many seconds.
READ_TIMEOUT_S = 30


class WebhookServer(ThreadingHTTPServer):
    """One thread per request, a deep listen queue, and one log line (no traceback) when a
    client goes away mid-request."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exception()
        if isinstance(error, OSError):
            log.warning("webhook: connection from %s failed: %s", client_address[0], error)
        else:
            log.exception("webhook: error while answering %s", client_address[0])


def make_server(
    address: tuple[str, int],
    secret: str,
    connection_ids: Iterable[str],
    job: Callable[[str], object],
) -> tuple[ThreadingHTTPServer, SerialRunner]:
    """A ready-to-serve HTTP server (``server.serve_forever()``) and its runner."""
    if not secret:
        raise ValueError(
            "The webhook needs a shared secret: set KUBECOST_PIPELINE__WEBHOOK__SECRET "
            "and put it in the Airbyte webhook URL as ?token=<secret>."
        )
    wanted = frozenset(connection_ids)
    runner = SerialRunner(job)

    class Handler(BaseHTTPRequestHandler):
        timeout = READ_TIMEOUT_S
        error_content_type = "application/json"
        error_message_format = '{"error": "%(code)d %(message)s"}'

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            if url.path != PATH:
                return self._reply(HTTPStatus.NOT_FOUND, {"error": f"POST to {PATH}"})
            if not self._authorized(parse_qs(url.query).get("token", [""])[0]):
                return self._reply(HTTPStatus.UNAUTHORIZED, {"error": "bad or missing token"})
            body = self._body()
            if body is None:
                return None
            try:
                data = orjson.loads(body or b"{}").get("data") or {}
                connection_id = str((data.get("connection") or {}).get("id") or "")
            except (orjson.JSONDecodeError, AttributeError):  # orjson stops at 1024 levels
                return self._reply(HTTPStatus.BAD_REQUEST, {"error": "body is not Airbyte JSON"})
            if data.get("success") is not True:
                return self._reply(HTTPStatus.OK, {"status": "ignored", "reason": "not a success"})
            if connection_id not in wanted:
                return self._reply(
                    HTTPStatus.OK, {"status": "ignored", "reason": "connection not configured"}
                )
            return self._reply(HTTPStatus.ACCEPTED, {"status": runner.request(connection_id)})

        def _body(self) -> bytes | None:
            """The request body, or None after answering why it is refused (unread)."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True
                self._reply(HTTPStatus.LENGTH_REQUIRED, {"error": "send a Content-Length"})
                return None
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                self._reply(HTTPStatus.BAD_REQUEST, {"error": "bad Content-Length"})
                return None
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._reply(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    {"error": f"body over {MAX_BODY_BYTES} bytes: not an Airbyte notification"},
                )
                return None
            return self.rfile.read(length)

        def _authorized(self, token: str) -> bool:
            header = self.headers.get("Authorization", "")
            if header.startswith("Bearer "):
                token = header.removeprefix("Bearer ")
            return hmac.compare_digest(token.encode(), secret.encode())

        def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None):
            # The standard messages quote the request line, which may carry the token: answer
            # (and log) the status only. Malformed request lines and TLS on this plain port
            # end here, with a 400.
            super().send_error(code, HTTPStatus(code).phrase)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # The default logs the request line, which carries the token: log the path only.
            if self.command:  # else the request line was malformed: log_error said so
                log.info("%s %s %s", self.command, urlsplit(self.path).path, code)

        def log_error(self, format: str, *args: Any) -> None:
            log.warning("webhook: %s from %s", format % args, self.client_address[0])

    return WebhookServer(address, Handler), runner
