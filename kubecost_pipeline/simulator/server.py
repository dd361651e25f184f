"""The HTTP face of the simulator: Kubecost/OpenCost endpoints over a Fleet.

Large responses are streamed with chunked transfer encoding, one record's JSON at a time, so
a 50,000-container day never sits in memory as one document.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import socket
import struct
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

from kubecost_pipeline.simulator.assets import Asset, span_assets
from kubecost_pipeline.simulator.engine import (
    CONTAINER_KEY,
    LABEL_ALIASES,
    AllocationQuery,
    day_spans,
    page,
    run_set,
    set_windows,
)
from kubecost_pipeline.simulator.faults import Fault, FaultSet, parse_fault
from kubecost_pipeline.simulator.filters import (
    ASSET_FIELDS,
    FilterError,
    parse_filter,
    parse_v1_filters,
)
from kubecost_pipeline.simulator.model import Fleet
from kubecost_pipeline.simulator.render import (
    NAN_FIELDS,
    NULL_FIELDS,
    Flavour,
    Numbers,
    allocation_json,
    asset_json,
    get_flavour,
    window_json,
)
from kubecost_pipeline.simulator.truth import IDLE_POLICIES, LEVELS, truth
from kubecost_pipeline.simulator.windows import WindowError, iso, parse_duration, parse_window

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
HOURLY_RETENTION = timedelta(hours=49)  # etlHourlyStoreDurationHours
REQUEST_LOG = 10_000  # requests kept in SimulatorServer.requests
# fmt: off
AGGREGATE_PROPS = {
    "cluster", "node", "namespace", "controllerKind", "controller", "service", "pod",
    "container", "providerID", "deployment", "statefulset", "daemonset", "job", *LABEL_ALIASES,
}
ASSET_AGGREGATES = {
    "account", "cluster", "project", "providerid", "provider", "type", "category", "service",
    "name",
}
# fmt: on
AUTH_MODES = {"basic": 3, "bearer": 2, "cookie": 2, "sso_redirect": 2}
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}

NGINX_PAGE = (
    "<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n<center><h1>{status}"
    "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Kubecost - Sign in</title></head><body>"
    '<form method="post" action="/login"><h1>Sign in to Kubecost</h1>'
    '<input name="username"><input name="password" type="password">'
    "<button>Sign in</button></form></body></html>"
)
STATUS_TEXT = {
    401: "401 Authorization Required",
    403: "403 Forbidden",
    429: "429 Too Many Requests",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def _bool(query: dict[str, str], name: str, default: bool) -> bool:
    """Go's strconv.ParseBool; anything else falls back to the default, as Kubecost does."""
    v = query.get(name)
    return True if v in _TRUE else False if v in _FALSE else default


def _int(query: dict[str, str], name: str) -> int | None:
    try:
        return int(query[name]) if query.get(name) else None
    except ValueError:
        return None


def check_auth(auth: tuple | None) -> tuple | None:
    """Validate an auth spec: None, ("basic", user, password), ("bearer", token),
    ("cookie", token) or ("sso_redirect", token)."""
    if auth is None:
        return None
    if not isinstance(auth, tuple) or not auth or AUTH_MODES.get(auth[0]) != len(auth):
        shape = (
            f"mode {auth[0]!r} with {len(auth)} parts"
            if isinstance(auth, tuple) and auth
            else (type(auth).__name__)
        )  # never echo the secret itself
        raise ValueError(
            f"invalid simulator auth ({shape}); use None, ('basic', user, password), "
            "('bearer', token), ('cookie', token) or ('sso_redirect', token)"
        )
    return auth


class _Error(Exception):
    def __init__(self, status: int, body: str, ctype: str = "application/json") -> None:
        super().__init__(body)
        self.status, self.body, self.ctype = status, body, ctype


def _json_error(status: int, message: str) -> _Error:
    body = json.dumps({"code": status, "status": "", "data": None, "message": f"Error: {message}"})
    return _Error(status, body)


class SimulatorServer:
    """A Kubecost or OpenCost API on 127.0.0.1, in a background thread.

    Args:
        fleet: the model served (default ``Fleet()``).
        flavour: ``kubecost1``, ``kubecost2``, ``opencost`` or ``kubecost19``.
        auth: see ``check_auth``; wrong credentials answer 401/403, or 302 to ``/login``.
        host, port: where to listen; port 0 picks a free port.
        now: pins the fleet's clock (today's partial day, the restatement window).

    ``faults`` takes ``Fault``s; ``requests`` logs ``(path, query)`` of every request (the
    most recent ones once it passes ``REQUEST_LOG``).
    Re-reading a day inside the restatement window with the same query moves the fleet to a
    newer revision of that day's adjustments, as cloud billing reconciliation does.
    """

    def __init__(
        self,
        fleet: Fleet | None = None,
        flavour: str = "kubecost2",
        auth: tuple | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        now: datetime | None = None,
    ) -> None:
        self.fleet = fleet or Fleet()
        if now is not None:
            self.fleet.now = now
        self.flavour: Flavour = get_flavour(flavour)
        self.auth = check_auth(auth)
        self.faults = FaultSet()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        self._reads: dict[tuple, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.sim = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """Where the API lives: ``base_url`` plus ``/model`` for Kubecost flavours."""
        return self.base_url + self.flavour.prefix

    def start(self) -> SimulatorServer:
        self._serving = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), daemon=True, name="kubecost-simulator"
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving = True
        self._httpd.serve_forever()

    def stop(self) -> None:
        self.stopping.set()
        if self._serving:
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers used by the handler --

    def log_request(self, path: str, query: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, query))
            if len(self.requests) > REQUEST_LOG:  # a long-running server keeps the recent half
                del self.requests[: REQUEST_LOG // 2]

    def note_read(self, route: str, query: dict[str, str], start: datetime, end: datetime):
        """Count a read of each restated day in the window; re-reads restate the day."""
        signature = (route, tuple(sorted(query.items())))
        with self._lock:
            for span in day_spans(start, min(end, start + timedelta(days=400))):
                if self.fleet.day_span(span.day) is None or not self.fleet.is_restated(span.day):
                    continue
                n = self._reads[(signature, span.day)]
                self._reads[(signature, span.day)] = n + 1
                if n:
                    self.fleet.restate(span.day, revision=n)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    @property
    def sim(self) -> SimulatorServer:
        return self.server.sim  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path
        sim = self.sim
        sim.log_request(path, query)
        try:
            self._dispatch(sim, path, query)
        except _Handled:
            pass
        except _Redirect as r:
            self._send(
                302, NGINX_PAGE.format(status="302 Found"), "text/html", {"Location": r.location}
            )
        except _Error as e:
            self._send(e.status, e.body, e.ctype)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # a bug: log it and drop the connection rather than send half a lie
            logger.exception("simulator failed on %s", path)
            self.close_connection = True

    # -- routing --

    def _dispatch(self, sim: SimulatorServer, path: str, query: dict[str, str]) -> None:
        fl = sim.flavour
        if path == "/login":
            return self._send(200, LOGIN_PAGE, "text/html")
        if path in ("/truth", fl.prefix + "/truth"):
            return self._truth(sim, query)
        if not path.startswith(fl.prefix + "/"):
            raise _Error(404, "404 page not found\n", "text/plain; charset=utf-8")
        route = path[len(fl.prefix) :]
        routes = {
            "/allocation": self._allocation,
            "/allocation/compute": self._allocation,
            "/assets": self._assets,
            "/clusterInfo": self._cluster_info,
            "/clusterInfoMap": self._cluster_info_map,
        }
        if fl.prefix:
            routes |= {"/installInfo": self._install_info, "/getConfigs": self._configs}
        else:
            routes["/healthz"] = self._healthz
        handler = routes.get(route)
        if handler is None:
            raise _Error(404, "404 page not found\n", "text/plain; charset=utf-8")
        self._authenticate(sim)
        fault = self._header_fault() or sim.faults.pick(path)
        if fault is not None and self._early_fault(sim, fault):
            return None
        return handler(sim, route, query, fault)

    def _authenticate(self, sim: SimulatorServer) -> None:
        if sim.auth is None:
            return
        mode, *secret = sim.auth
        header = self.headers.get("Authorization") or ""
        cookies = dict(
            part.strip().split("=", 1)
            for part in (self.headers.get("Cookie") or "").split(";")
            if "=" in part
        )
        if mode == "basic":
            want = "Basic " + base64.b64encode(f"{secret[0]}:{secret[1]}".encode()).decode()
            if not hmac.compare_digest(header.encode(), want.encode()):
                self._refuse(401, {"WWW-Authenticate": 'Basic realm="Kubecost"'})
            return
        given = cookies.get("token")
        if mode in ("bearer", "sso_redirect") and header.startswith("Bearer "):
            given = header[7:]
        if given is not None and hmac.compare_digest(given.encode(), secret[0].encode()):
            return
        if mode == "sso_redirect":
            raise _Redirect("/login?redirect=" + quote(self.path, safe=""))
        self._refuse(401 if given is None else 403, {})

    def _header_fault(self) -> Fault | None:
        """A fault asked for by this request alone: ``X-Simulator-Fault: 503``."""
        text = self.headers.get("X-Simulator-Fault")
        if not text:
            return None
        try:
            return parse_fault(text)
        except ValueError as e:
            raise _json_error(400, f"X-Simulator-Fault: {e}") from None

    def _refuse(self, status: int, headers: dict[str, str]) -> None:
        self._send(status, NGINX_PAGE.format(status=STATUS_TEXT[status]), "text/html", headers)
        raise _Handled

    # -- faults that replace the answer --

    def _early_fault(self, sim: SimulatorServer, f: Fault) -> bool:
        kind = f.kind
        if kind in ("502", "503", "504"):
            status = int(kind)
            self._send(status, NGINX_PAGE.format(status=STATUS_TEXT[status]), "text/html")
        elif kind == "500":
            e = _json_error(500, "error computing allocations: simulated failure")
            self._send(500, e.body, e.ctype)
        elif kind == "429":
            self._send(
                429,
                NGINX_PAGE.format(status=STATUS_TEXT[429]),
                "text/html",
                {"Retry-After": str(f.retry_after)},
            )
        elif kind == "code":
            body = json.dumps(
                {
                    "code": f.code,
                    "status": "",
                    "data": None,
                    "message": "Error: simulated failure inside HTTP 200",
                }
            )
            self._send(200, body, "application/json")
        elif kind == "slow":
            sim.stopping.wait(f.delay)
            return False
        elif kind == "timeout":
            sim.stopping.wait(f.delay)
            self._drop(reset=False)
        elif kind == "reset":
            self._drop(reset=True)
        else:
            return False
        return True

    def _drop(self, reset: bool) -> None:
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    # -- writing --

    def _send(self, status: int, body: str, ctype: str, headers: dict | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, pieces: Iterable[str], fault: Fault | None) -> None:
        """Send JSON text in chunks; a ``truncated`` fault cuts the body half way."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        truncate = fault is not None and fault.kind == "truncated"
        buf: list[str] = []
        size = 0
        for piece in pieces:
            buf.append(piece)
            size += len(piece)
            if size >= CHUNK:
                data = "".join(buf).encode()
                if truncate:
                    self._chunk(data[: len(data) // 2])
                    break
                self._chunk(data)
                buf, size = [], 0
        else:
            data = "".join(buf).encode()
            self._chunk(data[: len(data) // 2] if truncate else data)
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    # -- endpoints --

    def _window(self, sim: SimulatorServer, query: dict[str, str]) -> tuple[datetime, datetime]:
        text = query.get("window")
        if not text:
            raise _Error(400, "Missing 'window' parameter\n", "text/plain; charset=utf-8")
        try:
            return parse_window(text, sim.fleet.clock())
        except WindowError as e:
            raise _Error(
                400, f"Invalid 'window' parameter: {e}\n", "text/plain; charset=utf-8"
            ) from None

    def _allocation(
        self, sim: SimulatorServer, route: str, query: dict[str, str], fault: Fault | None
    ) -> None:
        fl = sim.flavour
        start, end = self._window(sim, query)
        q, offset, limit = allocation_query(fl, query, start, end, sim.fleet.clock())
        sim.note_read(route, query, start, end)
        windows = set_windows(q)
        nulls = (
            NAN_FIELDS
            if fault and fault.kind == "nan"
            else NULL_FIELDS
            if fault and fault.kind == "null"
            else frozenset()
        )
        empty = fault is not None and fault.kind == "empty"
        nums = Numbers(fl)
        raw_ok = q.aggregate in (None, CONTAINER_KEY)

        def body() -> Iterator[str]:
            yield '{"code":200,"status":"success","data":['
            for i, (ws, we) in enumerate(windows):
                yield ",{" if i else "{"
                if empty:
                    yield "}"
                    continue
                reconcile = q.reconcile and we - ws >= timedelta(days=1)
                paged = fl.paging and (offset or limit is not None)
                rows: Iterable = run_set(sim.fleet, ws, we, q, reconcile, stream=not paged)
                if paged:
                    rows = page(rows, offset or 0, limit)
                win = window_json(ws.timestamp(), we.timestamp())
                raw = raw_ok and we - ws <= timedelta(days=1)
                for j, (name, a) in enumerate(rows):
                    rec_nulls = nulls if j % 2 == 0 else frozenset()
                    yield ("," if j else "") + allocation_json(
                        name, a, win, fl, nums, q.aggregate, raw, rec_nulls
                    )
                yield "}"
            yield "]}"

        self._stream(body(), fault)

    def _assets(
        self, sim: SimulatorServer, route: str, query: dict[str, str], fault: Fault | None
    ) -> None:
        fl = sim.flavour
        start, end = self._window(sim, query)
        agg = tuple(p.strip() for p in query.get("aggregate", "").split(",") if p.strip())
        for p in agg:
            if p not in ASSET_AGGREGATES and not p.startswith("label:"):
                raise _json_error(400, f"unknown asset aggregation property: {p!r}")
        pred = None
        if query.get("filter"):
            try:
                pred = parse_filter(query["filter"], ASSET_FIELDS)
            except FilterError as e:
                raise _json_error(400, str(e)) from None
        accumulate = fl.assets_as_map or _bool(query, "accumulate", False)
        step = None if accumulate else timedelta(days=1)
        reconcile = not _bool(query, "disableAdjustments", False)
        sim.note_read(route, query, start, end)
        windows = set_windows(AllocationQuery(start, end, step=step))
        empty = fault is not None and fault.kind == "empty"

        def one_set(ws: datetime, we: datetime) -> Iterator[str]:
            merged: dict[str, Asset] = {}
            for span in day_spans(ws, we, reconcile):
                clipped = sim.fleet.clip(span)
                if clipped is None or empty:
                    continue
                for a in span_assets(sim.fleet, clipped):
                    if pred is not None and not pred(_asset_filter_props(a)):
                        continue
                    key = _asset_key(a, agg)
                    if key in merged:
                        _merge_asset(merged[key], a, bool(agg))
                    else:
                        merged[key] = a
            win = window_json(ws.timestamp(), we.timestamp())
            for j, key in enumerate(sorted(merged)):
                yield ("," if j else "") + asset_json(key, merged[key], win, fl)

        def body() -> Iterator[str]:
            if fl.assets_as_map:
                yield '{"code":200,"status":"success","data":{'
                yield from one_set(start, end)
                yield "}}"
                return
            yield '{"code":200,"status":"success","data":['
            for i, (ws, we) in enumerate(windows):
                yield ",{" if i else "{"
                yield from one_set(ws, we)
                yield "}"
            yield "]}"

        self._stream(body(), fault)

    def _cluster_info(self, sim: SimulatorServer, route, query, fault) -> None:
        self._send_data(cluster_info(sim.fleet, sim.flavour, 0), fault)

    def _cluster_info_map(self, sim: SimulatorServer, route, query, fault) -> None:
        data = {}
        for c in sim.fleet.structure.clusters:
            info = cluster_info(sim.fleet, sim.flavour, c.index)
            data[c.id] = {
                k: info[k]
                for k in ("id", "name", "provider", "account", "project", "region", "provisioner")
            }
            data[c.id]["profile"] = info["clusterProfile"]
        self._send_data(data, fault)

    def _install_info(self, sim: SimulatorServer, route, query, fault) -> None:
        c = sim.fleet.structure.clusters[0]
        self._send_data(
            {
                "version": sim.flavour.version,
                "clusterID": c.id,
                "kubernetesVersion": "1.29",
                "containers": [],
            },
            fault,
        )

    def _configs(self, sim: SimulatorServer, route, query, fault) -> None:
        self._send_data(
            {
                "currencyCode": sim.fleet.spec.currency,
                "defaultIdle": "true",
                "shareTenancyCosts": "true",
                "kubecostProductConfigs": {},
            },
            fault,
        )

    def _healthz(self, sim: SimulatorServer, route, query, fault) -> None:
        self._send(200, "", "text/plain")

    def _send_data(self, data: object, fault: Fault | None) -> None:
        if fault is not None and fault.kind == "empty":
            data = {}
        body = json.dumps({"code": 200, "status": "success", "data": data})
        if fault is not None and fault.kind == "truncated":
            body = body[: len(body) // 2]
        self._send(200, body, "application/json")

    def _truth(self, sim: SimulatorServer, query: dict[str, str]) -> None:
        start, end = self._window(sim, query)
        midnight = time()
        if (
            start.timetz().replace(tzinfo=None) != midnight
            or end.timetz().replace(tzinfo=None) != midnight
        ):
            raise _json_error(400, f"truth windows are whole UTC days; got {iso(start)},{iso(end)}")
        level = query.get("level", "namespace")
        policy = query.get("idle_policy", "separate")
        if level not in LEVELS or policy not in IDLE_POLICIES:
            raise _json_error(
                400,
                f"level must be one of {LEVELS} and idle_policy one of "
                f"{IDLE_POLICIES}; got {level!r}, {policy!r}",
            )
        opts = {
            "level": level,
            "idle_policy": policy,
            "share_tenancy": sim.flavour.tenancy and _bool(query, "shareTenancyCosts", True),
            "share_namespaces": tuple(n for n in query.get("shareNamespaces", "").split(",") if n),
            "idle_by_node": _bool(query, "idleByNode", False),
            "reconcile": sim.flavour.name != "opencost" and _bool(query, "reconcile", True),
        }
        days = [start.date() + timedelta(days=i) for i in range((end - start).days)]
        by_day = query.get("step") == "1d"
        groups = [[d] for d in days] if by_day else [days]
        sets = []
        for group in groups:
            totals = truth(sim.fleet, group[0], group[-1] + timedelta(days=1), **opts)  # type: ignore[arg-type]
            sets.append(
                {
                    "window": {
                        "start": iso(datetime.combine(group[0], midnight, UTC)),
                        "end": iso(datetime.combine(group[-1], midnight, UTC) + timedelta(days=1)),
                    },
                    "totals": [
                        {"key": list(k), "name": "/".join(k), "totalCost": v}
                        for k, v in totals.items()
                    ],
                    "totalCost": round(sum(totals.values()), 5),
                }
            )
        data = {"level": level, "idle_policy": policy, "sets": sets}
        self._send(
            200, json.dumps({"code": 200, "status": "success", "data": data}), "application/json"
        )


class _Handled(Exception):
    """The response was already written."""


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _asset_filter_props(a: Asset) -> dict:
    return {**a.props, "type": a.type.lower(), "labels": a.labels}


def _asset_key(a: Asset, agg: tuple[str, ...]) -> str:
    if not agg:
        return a.key
    props = {**a.props, "type": a.type, "providerid": a.props.get("providerID", "")}
    return "/".join(
        (a.labels.get(p[6:]) or "__undefined__")
        if p.startswith("label:")
        else (props.get(p) or "__undefined__")
        for p in agg
    )


def _merge_asset(acc: Asset, a: Asset, aggregated: bool) -> None:
    if aggregated:
        acc.props = {k: v for k, v in acc.props.items() if a.props.get(k) == v}
        acc.labels = {k: v for k, v in acc.labels.items() if a.labels.get(k) == v}
        if acc.type != a.type:
            acc.type = "Any"
    acc.merge(a)


def cluster_info(fleet: Fleet, fl: Flavour, index: int) -> dict[str, str]:
    """``/clusterInfo`` of one cluster: every value is a string, as the real endpoint sends."""
    c = fleet.structure.clusters[index]
    return {
        "id": c.id,
        "name": c.id,
        "provider": c.provider,
        "project": c.project,
        "account": c.account,
        "region": c.region,
        "provisioner": c.provisioner,
        "clusterProfile": "production" if c.id.startswith("prod") else "development",
        "version": "1.29+",
        "logCollection": "true",
        "productAnalytics": "true",
        "errorReporting": "true",
        "valuesReporting": "true",
        "thanosEnabled": "false",
        "thanosOffset": "3h",
        "remoteReadEnabled": "false",
    }


def allocation_query(
    fl: Flavour, query: dict[str, str], start: datetime, end: datetime, now: datetime
) -> tuple[AllocationQuery, int | None, int | None]:
    """The validated query of an allocation request, and its offset and limit."""
    agg_text = query.get("aggregate", "")
    aggregate = tuple(p.strip() for p in agg_text.split(",") if p.strip()) or fl.default_aggregate
    for p in aggregate or ():
        if p not in AGGREGATE_PROPS and not p.startswith(("label:", "annotation:")):
            raise _json_error(
                400,
                f"unknown aggregation property {p!r} in aggregate={agg_text!r}; "
                f"use {', '.join(sorted(AGGREGATE_PROPS))}, label:<key> or annotation:<key>",
            )
    accumulate = query.get("accumulate", "")
    step = parse_duration(query.get("step", "")) if query.get("step") else None
    if step is None and fl.hourly_when_recent and now - HOURLY_RETENTION <= start < now:
        step = timedelta(hours=1)  # Kubecost 1.x: unpinned granularity follows data age
    if fl.default_step and step is None:
        step = parse_duration(fl.default_step)
    if fl.name == "kubecost2" and accumulate in ("hour", "day", "week"):
        step = parse_duration("1" + accumulate[0])
    elif _bool(query, "accumulate", False):
        step = None
    pred = None
    if query.get("filter") and fl.v2_filter:
        try:
            pred = parse_filter(query["filter"])
        except FilterError as e:
            raise _json_error(400, str(e)) from None
    elif fl.v1_filters:
        pred = parse_v1_filters(query)
    q = AllocationQuery(
        start=start,
        end=end,
        step=step,
        aggregate=aggregate,
        idle=_bool(query, fl.idle_param, fl.idle_default),
        share_idle=_bool(query, "shareIdle", False),
        split_idle=fl.split_idle and _bool(query, "splitIdle", False),
        idle_by_node=_bool(query, "idleByNode", False),
        share_tenancy=fl.tenancy and _bool(query, "shareTenancyCosts", True),
        share_namespaces=frozenset(
            n.strip() for n in query.get("shareNamespaces", "").split(",") if n.strip()
        )
        if fl.prefix
        else frozenset(),
        filter=pred,
        reconcile=fl.name != "opencost" and _bool(query, "reconcile", True),
        legacy_labels=fl.legacy_labels,
    )
    if not fl.paging:
        return q, None, None
    return q, _int(query, "offset"), _int(query, "limit")
