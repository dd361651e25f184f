"""Runs OptScale's own code (../shared/optscale, 4617ceb9) on the stores the hook wrote.

Run by `integration_tests/test_post_sync_optscale.py` with the OptScale environment's Python
(`make .venv-optscale/.installed`): ``driver.py REQUEST.json`` prints one JSON object.

The request names the MariaDB database (shared with the hook: OptScale's tables, created from
its own SQLAlchemy models), and carries the hook's MongoDB documents (extended JSON) and
ClickHouse `expenses` rows. The driver loads them into mongomock (as OptScale's own tests do)
and into chDB behind clickhouse-driver, runs the requested OptScale services and returns their
answers, the documents as the services left them and the `discovery_info` rows.

What is real: OptScale's controllers, models, resource observer, discovery scheduler and
worker (over real HTTP against OptScale's own tornado handlers), diworker's importer code and
the config client (answered from an in-memory etcd). What stands in: the network services
OptScale would call (etcd, Thanos, metroculus, the auth service's user lookup) and the cloud
SDKs these paths never call (`cloud_sdk_stubs`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(Path(os.environ["OPTSCALE_SOURCE"]).resolve()))

import chdb_clickhouse  # noqa: E402
import cloud_sdk_stubs  # noqa: E402

cloud_sdk_stubs.install()
chdb_clickhouse.install()

import etcd  # noqa: E402
import mongomock  # noqa: E402
import tornado.httpserver  # noqa: E402
import tornado.ioloop  # noqa: E402
import tornado.web  # noqa: E402
from bson import json_util  # noqa: E402
from optscale_client.config_client.client import Client as ConfigClient  # noqa: E402

LOG = logging.getLogger("optscale-driver")
SECRET = "cluster-secret-of-the-test"


# ---- etcd: OptScale's config client reads its settings from an in-memory tree ----------------


class LocalConfig(ConfigClient):
    """OptScale's config client; only etcd's `read` answers from `tree`, not from a server."""

    def __init__(self, tree: dict[str, Any]):
        super().__init__(host="127.0.0.1", port=1)
        self.tree = tree

    def read(self, key: str, **kwargs: Any) -> etcd.EtcdResult:
        value = self.tree
        for part in key.strip("/").split("/"):
            if not isinstance(value, dict) or part not in value:
                raise etcd.EtcdKeyNotFound(f"Key not found : {key}")
            value = value[part]
        return etcd.EtcdResult(action="get", node=_node(key.rstrip("/"), value))

    def write(self, key: str, value: Any, **kwargs: Any) -> None:
        *branch, leaf = key.strip("/").split("/")
        node = self.tree
        for part in branch:
            node = node.setdefault(part, {})
        node[leaf] = value


def _node(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {
            "key": key,
            "dir": True,
            "nodes": [_node(f"{key}/{k}", v) for k, v in value.items()],
        }
    return {"key": key, "value": str(value)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- small stand-ins for services OptScale calls over HTTP ------------------------------------


class _JsonHandler(BaseHTTPRequestHandler):
    answer: Callable[[str], Any]

    def do_GET(self) -> None:
        body = json.dumps(self.answer(self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def serve_json(answer: Callable[[str], Any]) -> tuple[ThreadingHTTPServer, int]:
    handler = type("Handler", (_JsonHandler,), {"answer": staticmethod(answer)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class Harness:
    """OptScale's REST API (tornado, real HTTP), its controllers and stores for one request."""

    def __init__(self, request: dict[str, Any]):
        self.request = request
        mysql = request["mysql"]
        self.metrics: dict[str, list[dict[str, Any]]] = {}
        _, thanos_port = serve_json(lambda path: {"status": "success", "data": {
            "resultType": "vector", "result": []}})  # fmt: skip
        _, metroculus_port = serve_json(self._metroculus)
        self.api_port = free_port()
        self.config = LocalConfig(
            {
                "secret": {"cluster": SECRET},
                "encryption_salt": "salt-of-the-test",
                "restdb": {
                    "user": mysql["user"],
                    "password": mysql["password"],
                    "host": f"{mysql['host']}:{mysql['port']}",
                    "db": mysql["database"],
                },
                "restapi": {"host": "127.0.0.1", "port": self.api_port},
                "auth": {"host": "127.0.0.1", "port": free_port()},
                "thanos_query": {"host": "127.0.0.1", "port": thanos_port},
                "metroculus": {"host": "127.0.0.1", "port": metroculus_port},
                "clickhouse": {"user": "default", "password": "", "host": "chdb", "db": "default"},
                "rabbit": {"user": "guest", "pass": "guest", "host": "127.0.0.1", "port": 5672},
            }
        )
        self.mongo = mongomock.MongoClient(tz_aware=False)
        self.resources = self.mongo.restapi.resources
        self._patches()
        from rest_api.rest_api_server.models.db_base import BaseDB
        from rest_api.rest_api_server.models.db_mysql import MySQLDB

        self.db = MySQLDB(self.config)
        self.session_factory = BaseDB.session(self.db.engine)

    # -- process-wide patches: where OptScale would reach a service that is not here --

    def _patches(self) -> None:
        config = self.config
        patches = [
            # utils.Config() builds its config client from HX_ETCD_HOST/PORT
            mock.patch.dict(os.environ, {"HX_ETCD_HOST": "127.0.0.1", "HX_ETCD_PORT": "1"}),
            mock.patch("rest_api.rest_api_server.utils.ConfigClient", lambda **kwargs: config),
            # MongoDB through mongomock, as OptScale's own test base does
            mock.patch(
                "rest_api.rest_api_server.controllers.base.MongoMixin.mongo_client",
                new_callable=mock.PropertyMock,
                return_value=self.mongo,
            ),
            # activity events go to RabbitMQ for notification services
            mock.patch(
                "rest_api.rest_api_server.controllers.base.BaseController.publish_activities_task"
            ),
            # the auth service: role assignment and the current user's identity
            mock.patch(
                "rest_api.rest_api_server.controllers.base.BaseController.assign_role_to_user"
            ),
            mock.patch(
                "rest_api.rest_api_server.controllers.base.BaseController.get_user_id",
                lambda ctrl: self.request.get("auth_user_id"),
            ),
            mock.patch(
                "rest_api.rest_api_server.controllers.assignment."
                "AssignmentController._authorize_action_for_pool",
                return_value=True,
            ),
            mock.patch(
                "rest_api.rest_api_server.controllers.cloud_account."
                "CloudAccountController.send_cloud_account_email"
            ),
            mock.patch(
                "rest_api.rest_api_server.controllers.report_import."
                "ReportImportBaseController.publish_task"
            ),
        ]
        for p in patches:
            p.start()

    def _metroculus(self, path: str) -> dict[str, Any]:
        """k8s metrics for the pods the request names (metroculus reads them from Thanos)."""
        return self.metrics

    # -- stores --

    def load(self) -> None:
        docs = json_util.loads(self.request.get("mongo", "[]"))
        if docs:
            self.resources.insert_many(docs)
        self.resources.create_index(
            [("cloud_resource_id", 1), ("cloud_resource_hash", 1), ("cloud_account_id", 1),
             ("organization_id", 1), ("deleted_at", 1)],
            name="OptResourceUnique", unique=True,
        )  # fmt: skip
        expenses = self.request.get("expenses")
        if expenses is not None:
            self._create_expenses(expenses["columns"])
            for part in expenses["parts"]:  # one INSERT per part of the hook's table, in order
                self._insert_rows(expenses["columns"], part)

    def _create_expenses(self, columns: list[list[str]]) -> None:
        """`expenses` and `traffic_expenses` made by diworker's own migrations; CloudTuner's
        three k8s columns on top when the hook's table has them."""
        from diworker.diworker import migrations

        folder = Path(migrations.__path__[0])
        for name in ("202111031530000_clickhouse_database.py",
                     "202204201635000_traffic_expenses_table.py"):  # fmt: skip
            module = _load_migration(folder / name)
            module.Migration(self.config, self.mongo.restapi).upgrade()
        extra = [name for name, _ in columns[5:]]
        if extra:
            import clickhouse_driver

            client = clickhouse_driver.Client(host="chdb")
            client.execute(
                "ALTER TABLE expenses "
                + ", ".join(f"ADD COLUMN {name} Nullable(String)" for name in extra)
            )

    @staticmethod
    def _insert_rows(columns: list[list[str]], rows: list[list[Any]]) -> None:
        import clickhouse_driver

        client = clickhouse_driver.Client(host="chdb")
        names = [name for name, _ in columns]
        typed = [
            [datetime.utcfromtimestamp(v) if kind == "DateTime" else v
             for (_, kind), v in zip(columns, row, strict=True)]
            for row in rows
        ]  # fmt: skip
        if typed:
            client.execute(f"INSERT INTO expenses ({', '.join(names)}) VALUES", typed)

    def session(self) -> Any:
        return self.session_factory()

    # -- OptScale's REST API over real HTTP (the discovery scheduler and worker use it) --

    @functools.cached_property
    def api(self) -> int:
        """OptScale's REST API on a local port, started once; returns the port."""
        from rest_api.rest_api_server.server import get_handlers

        ready = threading.Event()

        def serve() -> None:
            loop = tornado.ioloop.IOLoop()
            loop.make_current()
            app = tornado.web.Application(
                get_handlers({"engine": self.db.engine, "config": self.config})
            )
            server = tornado.httpserver.HTTPServer(app)
            server.listen(self.api_port, "127.0.0.1")
            ready.set()
            loop.start()

        threading.Thread(target=serve, daemon=True).start()
        if not ready.wait(30):
            raise RuntimeError("OptScale's REST API did not start")
        return self.api_port


def _load_migration(path: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- operations -----------------------------------------------------------------------------


def op_setup(h: Harness, accounts: int, **_: Any) -> dict[str, Any]:
    """OptScale's tables from its own models; an organization, its root pool and owner; and
    `accounts` kubernetes_cnr cloud accounts created by OptScale's CloudAccountController
    (which also creates their k8s_pod discovery_info rows and cost models)."""
    from rest_api.rest_api_server.controllers.cloud_account import CloudAccountController
    from rest_api.rest_api_server.models.enums import PoolPurposes
    from rest_api.rest_api_server.models.models import Employee, Organization, Pool

    h.db.create_all()
    session = h.session()
    organization = Organization(name="Kubecost org", currency="USD")
    session.add(organization)
    session.flush()
    auth_user_id = str(uuid.uuid4())
    employee = Employee(
        name="Default owner", organization_id=organization.id, auth_user_id=auth_user_id
    )
    session.add(employee)
    session.flush()
    pool = Pool(
        name="Kubecost org",
        organization_id=organization.id,
        default_owner_id=employee.id,
        purpose=PoolPurposes.BUSINESS_UNIT,
    )
    session.add(pool)
    session.flush()
    organization.pool_id = pool.id
    session.commit()
    h.request["auth_user_id"] = auth_user_id
    controller = CloudAccountController(session, h.config, "token")
    account_ids = []
    for n in range(accounts):
        account = controller.create(
            organization_id=organization.id,
            name=f"k8s-{n}",
            type="kubernetes_cnr",
            config={
                "user": f"user-{n}",
                "password": "secret",
                "cost_model": {"cpu_hourly_cost": 0.002, "memory_hourly_cost": 0.001},
            },
        )
        account_ids.append(account.id)
    return {
        "organization_id": organization.id,
        "pool_id": pool.id,
        "employee_id": employee.id,
        "account_ids": account_ids,
    }


def op_observe(h: Harness, organization_id: str, **_: Any) -> dict[str, Any]:
    """The resource observer's run for the organization (rest_api ResourceObserverController)."""
    from rest_api.rest_api_server.controllers.resource_observer import (
        ResourceObserverController,
    )

    ResourceObserverController(h.session(), h.config).observe(organization_id)
    return {"observed": True}


def op_discover(h: Harness, organization_id: str, type: str = "k8s_pod", **_: Any) -> Any:
    """`GET /organizations/{id}/cloud_resources_discover?type=k8s_pod` (from the cache)."""
    from rest_api.rest_api_server.controllers.cloud_resource_discover import (
        CloudResourceDiscover,
    )

    return CloudResourceDiscover(h.session(), h.config).list(
        organization_id, type=type, filters="{}", sort="{}"
    )


def op_schedule(h: Harness, **_: Any) -> dict[str, Any]:
    """One run of the discovery scheduler: which (cloud account, resource type) it publishes."""
    import importlib

    h.api  # noqa: B018 (started on first use)
    scheduler = importlib.import_module("docker_images.resource_discovery.scheduler")
    tasks = scheduler.process(h.config)
    return {"tasks": [list(t) for org_tasks in tasks.values() for t in org_tasks]}


def op_discovery_worker(h: Harness, tasks: list[list[str]], **_: Any) -> dict[str, Any]:
    """OptScale's discovery worker on each task, as it would consume them from RabbitMQ."""
    import importlib

    from kombu import Connection

    h.api  # noqa: B018 (started on first use)
    worker_module = importlib.import_module("docker_images.resource_discovery.worker")
    with Connection("memory://") as connection:
        worker = worker_module.DiscoveryWorker(connection, h.config)
        try:
            for account_id, resource_type in tasks:
                worker.discover_resources(
                    {"cloud_account_id": account_id, "resource_type": resource_type}
                )
        finally:
            worker.running = False
            worker.thread.join()
            if worker._res_saving:
                worker._res_saving.shutdown()
    return {"ran": len(tasks)}


def _dates(start: int, end: int) -> dict[str, Any]:
    return {"start_date": start, "end_date": end}


def op_clean_expenses(
    h: Harness, organization_id: str, start: int, end: int, filters: dict[str, Any], **_: Any
) -> Any:
    from rest_api.rest_api_server.controllers.expense import CleanExpenseController

    return CleanExpenseController(h.session(), h.config).get(
        organization_id, **_dates(start, end), **filters
    )


def op_summary(
    h: Harness, organization_id: str, start: int, end: int, filters: dict[str, Any], **_: Any
) -> Any:
    from rest_api.rest_api_server.controllers.expense import SummaryExpenseController

    return SummaryExpenseController(h.session(), h.config).get(
        organization_id, **_dates(start, end), **filters
    )


def op_breakdown(
    h: Harness, organization_id: str, start: int, end: int, breakdown_by: str, **_: Any
) -> Any:
    from rest_api.rest_api_server.controllers.breakdown_expense import (
        BreakdownExpenseController,
    )

    return BreakdownExpenseController(h.session(), h.config).get(
        organization_id, **_dates(start, end), breakdown_by=breakdown_by
    )


def op_cloud_expenses(
    h: Harness, account_id: str, start: int, end: int, filter_by: str, **_: Any
) -> Any:
    """`GET /cloud_accounts/{id}/expenses?filter_by=k8s_namespace` (ExpenseController)."""
    from rest_api.rest_api_server.controllers.cloud_account import CloudAccountController

    controller = CloudAccountController(h.session(), h.config)
    return controller.get_expenses(controller.get(account_id), start, end, filter_by)


def op_diworker_totals(h: Harness, account_id: str, **_: Any) -> dict[str, Any]:
    """diworker's expense info of every resource of the account, computed by its own code and
    written by it (`update_resource_expense_info`), as after an import of the latest day."""
    import clickhouse_driver
    from diworker.diworker.importers.base import BaseReportImporter

    importer = BaseReportImporter(
        account_id, None, h.config, h.mongo.restapi.raw_expenses, h.resources,
        clickhouse_driver.Client(host="chdb"), detect_period_start=False,
    )  # fmt: skip
    ids = [d["_id"] for d in h.resources.find({"cloud_account_id": account_id}, ["_id"])]
    info = importer.get_common_resource_expense_info(account_id, ids)
    last_day = {rid: (max_date, _day_cost(importer, account_id, rid, max_date))
                for rid, (max_date, _) in info.items()}  # fmt: skip
    importer.update_resource_expense_info(account_id, last_day)
    return {rid: [int(d.timestamp()), total] for rid, (d, total) in info.items()}


def _day_cost(importer: Any, account_id: str, resource_id: str, day: datetime) -> float:
    rows = importer.get_clickhouse_expenses(day, day, [resource_id], account_id)
    return sum(cost * sign for _, _, cost, sign in rows)


def op_rightsizing(
    h: Harness, organization_id: str, start: int, end: int, metrics: dict[str, Any], **_: Any
) -> Any:
    """The k8s rightsizing controller; metroculus answers `metrics` for the given pod `_id`s."""
    from rest_api.rest_api_server.controllers.k8s_rightsizing import K8sRightsizingController

    h.metrics = metrics
    return K8sRightsizingController(h.session(), h.config).get(
        organization_id, **_dates(start, end)
    )


OPERATIONS: dict[str, Callable[..., Any]] = {
    "setup": op_setup,
    "observe": op_observe,
    "discover": op_discover,
    "schedule": op_schedule,
    "discovery_worker": op_discovery_worker,
    "clean_expenses": op_clean_expenses,
    "summary": op_summary,
    "breakdown": op_breakdown,
    "cloud_expenses": op_cloud_expenses,
    "diworker_totals": op_diworker_totals,
    "rightsizing": op_rightsizing,
}


def run(request: dict[str, Any]) -> dict[str, Any]:
    harness = Harness(request)
    harness.load()
    results = []
    for step in request.get("steps", []):
        started = time.perf_counter()
        try:
            results.append({"ok": OPERATIONS[step["op"]](harness, **step)})
        except Exception as exc:  # reported to the test, which decides
            LOG.exception("%s failed", step["op"])
            results.append({"error": f"{type(exc).__name__}: {exc}"})
        results[-1]["seconds"] = round(time.perf_counter() - started, 3)
    session = harness.session()
    discovery = session.execute(
        "SELECT cloud_account_id, resource_type, enabled, last_discovery_at, last_error_at, "
        "last_error, observe_time, deleted_at FROM discovery_info ORDER BY 1, 2"
    ).fetchall()
    return {
        "results": results,
        "mongo": json_util.dumps(list(harness.resources.find({}))),
        "discovery_info": [list(row) for row in discovery],
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    request = json.loads(Path(sys.argv[1]).read_text())
    result = run(request)
    sys.stdout.write(json.dumps(result, default=str))
    sys.stdout.flush()
    os._exit(0)  # daemon threads (HTTP servers, chDB) need no orderly shutdown


if __name__ == "__main__":
    main()
