"""A hand-built Kubecost stand-in for the restatement tests (not the project's simulator).

`World` holds what Kubecost answers for each day: containers with their costs, the nodes
they run on, idle and unmounted volumes. Tests mutate it between syncs as Kubecost restates
a day (containers, pods, namespaces, nodes or a whole cluster gone or added, costs changed).
`KubecostStub` serves it over HTTP the way Kubecost 2.x does (`/model/allocation`,
`/model/assets`, `/model/clusterInfo`, `/model/clusterInfoMap`, `/model/getConfigs`),
including what the connector needs for days too big to read at once: a 504 on the full
day (or on one cluster), `aggregate=cluster` and `aggregate=cluster,namespace` listings, and
`filter=cluster:"x"` / `cluster:"x"+namespace:"y"` answers. Every answer is logged as the
JSON that was sent, so the tests' expected marts come from the payloads, not from here.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

CONTAINER_AGGREGATE = "cluster,node,namespace,controllerKind,controller,pod,container"
_FILTER = re.compile(r'(\w+):"((?:\\.|[^"\\])*)"')


def money(value: float) -> float:
    """Kubecost rounds every allocation float to 5 decimals."""
    return round(value, 5)


@dataclass(frozen=True)
class Container:
    cluster: str
    node: str  # '' for an unmounted volume
    namespace: str
    kind: str
    controller: str
    pod: str
    name: str
    service: str
    cpu: float
    ram: float
    adjustment: float = 0.0
    pv: float = 0.0
    network: float = 0.0
    shared: float = 0.0

    @property
    def unmounted(self) -> bool:
        return self.namespace == "__unmounted__"


@dataclass(frozen=True)
class Node:
    cluster: str
    name: str
    idle_cpu: float
    idle_ram: float


@dataclass
class Day:
    containers: list[Container] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)


class World:
    """Kubecost's answer for every day, built from containers and nodes."""

    def __init__(self, days: dict[date, Day], idle_by_node: bool, currency: str | None):
        self.days = days
        self.idle_by_node = idle_by_node
        self.currency = currency
        self.too_big: set[date] = set()  # the whole day answers 504
        self.too_big_clusters: dict[date, set[str]] = {}  # so does one cluster of it

    # ---------- restatements

    def drop(self, day: date, **match: str) -> int:
        """Remove the containers (and nodes, for `node=`/`cluster=` alone) matching every
        field given; returns how many containers went."""
        kept = [c for c in self.days[day].containers if not _matches(c, match)]
        dropped = len(self.days[day].containers) - len(kept)
        self.days[day].containers = kept
        if set(match) <= {"cluster", "node"}:
            field_of = {"cluster": "cluster", "node": "name"}
            self.days[day].nodes = [
                n
                for n in self.days[day].nodes
                if not all(getattr(n, field_of[k]) == v for k, v in match.items())
            ]
        return dropped

    def add(self, day: date, container: Container) -> None:
        """Add a container (once) and its node if the day has not got it."""
        if container in self.days[day].containers:
            return
        self.days[day].containers.append(container)
        if container.node and not any(
            n.cluster == container.cluster and n.name == container.node
            for n in self.days[day].nodes
        ):
            self.days[day].nodes.append(Node(container.cluster, container.node, 0.5, 0.25))

    def scale(self, day: date, factor: float, **match: str) -> None:
        """Restate the costs of the matching containers (`adjustment` too)."""
        self.days[day].containers = [
            replace(c, cpu=c.cpu * factor, ram=c.ram * factor, adjustment=c.adjustment + 0.01)
            if _matches(c, match)
            else c
            for c in self.days[day].containers
        ]

    # ---------- answers

    def allocations(self, day: date) -> list[dict[str, Any]]:
        """Every allocation of the day at container grain, idle rows included."""
        window = _window(day)
        rows = [self._allocation(c, window) for c in self.days[day].containers]
        idle: dict[tuple[str, str], list[float]] = {}
        for node in self.days[day].nodes:
            key = (node.cluster, node.name if self.idle_by_node else "")
            totals = idle.setdefault(key, [0.0, 0.0])
            totals[0] += node.idle_cpu
            totals[1] += node.idle_ram
        for (cluster, node), (cpu, ram) in sorted(idle.items()):
            name = f"{cluster}/{node}/__idle__" if node else f"{cluster}/__idle__"
            properties = {"cluster": cluster, **({"node": node} if node else {})}
            rows.append(
                {
                    "name": name,
                    "properties": properties,
                    "window": window,
                    "start": window["start"],
                    "end": window["end"],
                    "minutes": 1440,
                    "cpuCost": money(cpu),
                    "ramCost": money(ram),
                    "gpuCost": 0,
                    "totalCost": money(money(cpu) + money(ram)),
                }
            )
        return rows

    def _allocation(self, c: Container, window: dict[str, str]) -> dict[str, Any]:
        cpu, ram, pv, net = money(c.cpu), money(c.ram), money(c.pv), money(c.network)
        adj, shared = money(c.adjustment), money(c.shared)
        properties: dict[str, Any] = {
            "cluster": c.cluster,
            "namespace": c.namespace,
            "pod": c.pod,
            "container": c.name,
        }
        if c.node:
            properties |= {"node": c.node, "providerID": f"i-{c.node}"}
        if c.controller:
            properties |= {"controllerKind": c.kind, "controller": c.controller}
        if c.service:
            properties["services"] = [c.service]
        if not c.unmounted:
            properties["labels"] = {"app": c.controller or c.pod}
            properties["namespaceLabels"] = {"team": c.namespace}
        controller = f"{c.kind}:{c.controller}" if c.controller else "__unallocated__"
        parts = [c.cluster, c.node, c.namespace, c.kind or "__unallocated__", controller]
        return {
            "name": "/".join([*parts, c.pod, c.name]),
            "properties": properties,
            "window": window,
            "start": window["start"],
            "end": window["end"],
            "minutes": 1440,
            "cpuCores": 0.5,
            "cpuCoreHours": 12,
            "cpuCoreRequestAverage": 0.5,
            "cpuCoreUsageAverage": 0.25,
            "cpuCost": cpu,
            "cpuCostAdjustment": adj,
            "ramBytes": 2**30,
            "ramByteHours": 24 * 2**30,
            "ramByteRequestAverage": 2**30,
            "ramByteUsageAverage": 2**29,
            "ramCost": ram,
            "gpuCost": 0,
            "pvCost": pv,
            "networkCost": net,
            "loadBalancerCost": 0,
            "sharedCost": shared,
            "externalCost": 0,
            "totalCost": money(cpu + adj + ram + pv + net + shared),
            "cpuEfficiency": 0.5,
            "ramEfficiency": 0.5,
            "totalEfficiency": 0.5,
        }

    def assets(self, day: date) -> dict[str, dict[str, Any]]:
        """The Node assets of the day: each costs its allocations plus its idle."""
        window = _window(day)
        allocated: dict[tuple[str, str], list[float]] = {}
        for c in self.days[day].containers:
            if c.node:
                totals = allocated.setdefault((c.cluster, c.node), [0.0, 0.0])
                totals[0] += money(c.cpu)
                totals[1] += money(c.ram)
        assets = {}
        for node in self.days[day].nodes:
            cpu, ram = allocated.get((node.cluster, node.name), [0.0, 0.0])
            cpu, ram = money(cpu + node.idle_cpu), money(ram + node.idle_ram)
            key = f"AWS/1234/prod/Compute/{node.cluster}/Node/Kubernetes/i-{node.name}/{node.name}"
            assets[key] = {
                "type": "Node",
                "properties": {
                    "category": "Compute",
                    "provider": "AWS",
                    "account": "1234",
                    "project": "prod",
                    "service": "Kubernetes",
                    "cluster": node.cluster,
                    "name": node.name,
                    "providerID": f"i-{node.name}",
                },
                "labels": {"label_topology_kubernetes_io_zone": "eu-west-1a"},
                "window": window,
                "start": window["start"],
                "end": window["end"],
                "minutes": 1440,
                "nodeType": "m5.large",
                "cpuCores": 2,
                "ramBytes": 8 * 2**30,
                "cpuCost": cpu,
                "ramCost": ram,
                "gpuCost": 0,
                "discount": 0,
                "preemptible": 0,
                "adjustment": 0.01,
                "totalCost": money(cpu + ram + 0.01),
            }
        return assets

    def clusters(self) -> list[str]:
        return sorted(
            {c.cluster for day in self.days.values() for c in day.containers}
            | {n.cluster for day in self.days.values() for n in day.nodes}
        )


def _matches(container: Container, match: dict[str, str]) -> bool:
    names = {"node": "node", "cluster": "cluster", "namespace": "namespace", "pod": "pod"}
    return all(getattr(container, names.get(k, k)) == v for k, v in match.items())


def _window(day: date) -> dict[str, str]:
    return {"start": f"{day}T00:00:00Z", "end": f"{day + timedelta(days=1)}T00:00:00Z"}


def fleet(days: list[date], idle_by_node: bool = True, currency: str | None = "EUR") -> World:
    """Three clusters, two or three nodes each, a few namespaces, pods of one or two
    containers, a service on most, an unmounted volume: the same every day, costs varying
    by day so that a restatement is visible."""
    layout = {  # cluster: {node: [(namespace, kind, controller, pod, [containers], service)]}
        "alpha": {
            "a-1": [
                ("shop", "deployment", "api", "api-1", ["api", "proxy"], "api-svc"),
                ("shop", "deployment", "web", "web-1", ["web"], "web-svc"),
            ],
            "a-2": [
                ("shop", "deployment", "api", "api-2", ["api", "proxy"], "api-svc"),
                ("ops", "daemonset", "agent", "agent-a2", ["agent"], ""),
            ],
        },
        "beta": {
            "b-1": [
                ("data", "statefulset", "db", "db-0", ["db"], "db-svc"),
                ("data", "", "", "batch-x", ["job"], ""),
            ],
            "b-2": [("ops", "daemonset", "agent", "agent-b2", ["agent"], "")],
        },
        "gamma": {"g-1": [("ml", "deployment", "train", "train-1", ["train", "log"], "train")]},
    }
    world = World({}, idle_by_node, currency)
    for index, day in enumerate(days):
        containers, nodes = [], []
        for cluster, node_pods in layout.items():
            for node_index, (node, pods) in enumerate(node_pods.items()):
                nodes.append(Node(cluster, node, 0.1 * (node_index + 1), 0.05))
                for n, (ns, kind, ctrl, pod, names, svc) in enumerate(pods):
                    for k, name in enumerate(names):
                        base = 0.2 + 0.1 * n + 0.05 * k + 0.01 * index
                        containers.append(
                            Container(cluster, node, ns, kind, ctrl, pod, name, svc,
                                      cpu=base, ram=base / 3, adjustment=-0.002,
                                      network=0.001 * (k + 1))
                        )  # fmt: skip
            containers.append(
                Container(cluster, "", "__unmounted__", "", "", "__unmounted__",
                          "__unmounted__", "", cpu=0, ram=0, pv=0.03 + 0.001 * index)
            )  # fmt: skip
        world.days[day] = Day(containers, nodes)
    return world


# ---------- the HTTP side


@dataclass
class Served:
    """One answer of the stub: which sync, what was asked, what was sent."""

    sync: int
    endpoint: str
    params: dict[str, str]
    status: int
    body: Any


class KubecostStub:
    """Serves a World over HTTP as Kubecost 2.x does; a context manager."""

    def __init__(self, world: World):
        self.world = world
        self.sync = 0  # tests call begin_sync() before each sync
        self.log: list[Served] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> KubecostStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def begin_sync(self) -> int:
        self.sync += 1
        return self.sync

    def served(self, sync: int) -> Iterator[Served]:
        return (s for s in self.log if s.sync == sync and s.status == 200)

    def answer(self, endpoint: str, params: dict[str, str]) -> tuple[int, Any]:
        """(status, JSON body, or HTML text for a 504) of one request."""
        data: Any
        if endpoint == "clusterInfo":
            data = {"id": "alpha", "name": "alpha", "provider": "AWS", "region": "eu-west-1"}
        elif endpoint == "clusterInfoMap":
            data = {c: {"id": c, "name": c, "provider": "AWS"} for c in self.world.clusters()}
        elif endpoint == "getConfigs":
            data = {"currencyCode": self.world.currency} if self.world.currency else {}
        elif endpoint == "assets":
            data = [self.world.assets(_day_of(params))]
        elif endpoint == "allocation":
            return self._allocations(params)
        else:
            return 404, {"code": 404, "data": None, "message": f"no {endpoint}"}
        return 200, {"code": 200, "status": "success", "data": data}

    def _allocations(self, params: dict[str, str]) -> tuple[int, Any]:
        day = _day_of(params)
        scope = dict(_FILTER.findall(params.get("filter", "")))
        aggregate = params.get("aggregate", "")
        rows = self.world.allocations(day)
        full = aggregate == CONTAINER_AGGREGATE
        too_big = self.world.too_big_clusters.get(day, set())
        if full and (
            (not scope and day in self.world.too_big)
            or (set(scope) == {"cluster"} and scope["cluster"] in too_big)
        ):
            return 504, "<html><body><h1>504 Gateway Time-out</h1></body></html>"
        # idle rows have no namespace: a namespace's answer has no idle, a cluster's has
        rows = [
            r
            for r in rows
            if all(r["properties"].get(level) == value for level, value in scope.items())
        ]
        if not full:
            rows = _aggregated(rows, aggregate.split(","))
        sets = [{r["name"]: r for r in rows}] if rows else []
        return 200, {"code": 200, "status": "success", "data": sets}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                endpoint = url.path.removeprefix("/model/")
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                status, body = stub.answer(endpoint, params)
                with stub._lock:
                    stub.log.append(Served(stub.sync, endpoint, params, status, body))
                text = body if isinstance(body, str) else json.dumps(body)
                self.send_response(status)
                kind = "text/html" if isinstance(body, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(text.encode())))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _day_of(params: dict[str, str]) -> date:
    return date.fromisoformat(params["window"][:10])


def _aggregated(rows: list[dict[str, Any]], levels: list[str]) -> list[dict[str, Any]]:
    """Kubecost's answer at a coarser aggregate: one row per value of `levels`, idle apart."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        if "__idle__" in row["name"]:
            groups[row["name"]] = row
            continue
        values = [row["properties"].get(level, "") for level in levels]
        name = "/".join(v or "__unallocated__" for v in values)
        group = groups.setdefault(
            name,
            {
                "name": name,
                "properties": dict(zip(levels, values, strict=True)),
                "window": row["window"],
                "totalCost": 0.0,
            },
        )
        group["totalCost"] = money(group["totalCost"] + row["totalCost"])
    return list(groups.values())
