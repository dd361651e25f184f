"""Restated days are replaced whole: the real connector against a Kubecost stand-in, through
the real landing into chDB, then `dbt build`, in every destination sync mode.

The stand-in (kubecost_stub.py, not the project's simulator) serves hand-built Kubecost JSON
and restates days between syncs: containers, pods, namespaces, nodes and a whole cluster
vanish or appear, costs change, days are too big to read at once (504, then per cluster and
per namespace). The expected marts are computed below, in a few lines, from the JSON the
stand-in sent: each day is the latest answer the connector read in full. Every row of
k8s_costs_daily, k8s_expenses_daily (every level) and k8s_resources is compared, to 1e-9.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_tests.kubecost_stub import (
    CONTAINER_AGGREGATE,
    Container,
    Day,
    KubecostStub,
    Served,
    fleet,
)
from kubecost_pipeline.landing import sync
from kubecost_pipeline.transform import build

pytestmark = pytest.mark.slow

START = date(2026, 10, 1)
DAYS = [START + timedelta(days=n) for n in range(5)]
TOLERANCE = 1e-9

# ---------- the oracle: expected marts from the payloads, in plain Python

COMPONENTS = {  # mart column: Kubecost field
    "cpu_cost": "cpuCost",
    "gpu_cost": "gpuCost",
    "ram_cost": "ramCost",
    "pv_cost": "pvCost",
    "network_cost": "networkCost",
    "load_balancer_cost": "loadBalancerCost",
    "shared_cost": "sharedCost",
    "external_cost": "externalCost",
    "total_cost": "totalCost",
}
ADJUSTMENTS = [f"{r}CostAdjustment" for r in ("cpu", "gpu", "ram", "pv", "network")] + [
    "loadBalancerCostAdjustment"
]


def costs_of(allocation: dict[str, Any]) -> dict[str, float]:
    costs = {column: allocation.get(name) or 0.0 for column, name in COMPONENTS.items()}
    costs["adjustment_cost"] = sum(allocation.get(name) or 0.0 for name in ADJUSTMENTS)
    return costs


def levels_of(allocation: dict[str, Any]) -> list[tuple[str, str]]:
    """(level, resource_key) of every level an allocation adds to (docs/marts.md)."""
    p = allocation["properties"]
    if "__idle__" in allocation["name"]:
        node = p.get("node", "")
        by_node = [("node", node)] if node else []
        return [("cluster", p["cluster"]), *by_node, ("idle", node or p["cluster"])]
    ns, services = p["namespace"], p.get("services") or ["__unallocated__"]
    controller = (
        f"{p['controllerKind']}:{p['controller']}" if "controller" in p else "__unallocated__"
    )
    return [
        ("cluster", p["cluster"]),
        ("node", p.get("node") or "__unallocated__"),
        ("namespace", ns),
        ("controller", f"{ns}/{controller}"),
        ("service", f"{ns}/{services[0]}"),
        ("pod", f"{ns}/{p['pod']}"),
    ]


def expected_costs(days: dict[date, dict[str, dict]], currency: str) -> dict[tuple, dict]:
    return {
        (day, name): {**costs_of(a), "cluster": a["properties"]["cluster"], "currency": currency}
        for day, allocations in days.items()
        for name, a in allocations.items()
    }


def expected_expenses(days: dict[date, dict[str, dict]], currency: str) -> dict[tuple, dict]:
    rows: dict[tuple, dict] = {}
    for day, allocations in days.items():
        for a in allocations.values():
            idle = "__idle__" in a["name"]
            for level, key in levels_of(a):
                row = rows.setdefault(
                    (day, a["properties"]["cluster"], level, key),
                    {"idle_cost": 0.0, **dict.fromkeys([*COMPONENTS, "adjustment_cost"], 0.0)},
                )
                if idle:
                    row["idle_cost"] += a["totalCost"]
                else:
                    for column, cost in costs_of(a).items():
                        row[column] += cost
    for row in rows.values():
        row["total_cost_with_idle"] = row["total_cost"] + row["idle_cost"]
        row["currency"] = currency
    return rows


def expected_resources(expenses: dict[tuple, dict]) -> dict[tuple, dict]:
    rows: dict[tuple, dict] = {}
    for (day, cluster, level, key), row in sorted(expenses.items()):
        if level in ("cluster", "node", "namespace", "pod"):
            resource = rows.setdefault(
                (cluster, level, key),
                {"total_cost": 0.0, "idle_cost": 0.0, "first_seen_date": day},
            )
            resource["total_cost"] += row["total_cost"]
            resource["idle_cost"] += row["idle_cost"]
            resource["last_seen_date"] = day
            resource["currency"] = row["currency"]
    return rows


def readings_of(served: Iterable[Served]) -> tuple[dict, dict]:
    """Allocations and assets per day, as one sync's answers sent them: full-grain answers
    whole (every part of a split day), listings for their idle rows only."""
    allocations: dict[date, dict[str, dict]] = defaultdict(dict)
    assets: dict[date, dict[str, dict]] = defaultdict(dict)
    for answer in served:
        if answer.endpoint not in ("allocation", "assets"):
            continue
        day = date.fromisoformat(answer.params["window"][:10])
        for answered in answer.body["data"]:
            for name, item in answered.items():
                if answer.endpoint == "assets":
                    assets[day][name] = item
                elif answer.params["aggregate"] == CONTAINER_AGGREGATE or "__idle__" in name:
                    allocations[day][name] = item
    return allocations, assets


def assert_rows_equal(actual: dict[tuple, dict], expected: dict[tuple, dict], what: str) -> None:
    missing, extra = expected.keys() - actual.keys(), actual.keys() - expected.keys()
    assert not missing and not extra, (what, sorted(missing)[:10], sorted(extra)[:10])
    wrong = {
        key: (column, value, actual[key][column])
        for key, row in expected.items()
        for column, value in row.items()
        if (
            abs(actual[key][column] - value) > TOLERANCE
            if isinstance(value, float)
            else actual[key][column] != value
        )
    }
    assert not wrong, (what, dict(list(wrong.items())[:10]))


# ---------- the pipeline under test


@dataclass
class Pipeline:
    """One landing database and one dbt schema, synced from the stand-in in one mode."""

    stub: KubecostStub
    client: Any
    chdb_url: str
    mode: str
    idle_by_node: bool
    name: str
    allocations: dict[date, dict[str, dict]] = field(default_factory=dict)
    assets: dict[date, dict[str, dict]] = field(default_factory=dict)

    @property
    def landing(self) -> str:
        return f"{self.name}_kubecost"

    def sync(self, end: date, lookback: int = 1) -> None:
        """A sync up to `end`; the days it read become their latest complete reading."""
        config = {
            "url": self.stub.base_url,
            "start_date": str(START),
            "end_date": str(end),
            "granularity": "container",
            "idle_policy": "separate",
            "idle_by_node": self.idle_by_node,
            "lookback_days": lookback,
        }
        number = self.stub.begin_sync()
        modes = {"allocations": self.mode, "assets": self.mode}
        sync(config, self.chdb_url, self.landing, modes=modes)
        allocations, assets = readings_of(self.stub.served(number))
        if self.mode == "overwrite":  # the landing holds this sync's days only
            self.allocations, self.assets = {}, {}
        self.allocations.update(allocations)
        self.assets.update(assets)

    def build(self, full_refresh: bool = False, command: str = "build") -> None:
        result = build(
            self.chdb_url,
            vars={"kubecost_database": self.landing},
            schema=self.name,
            full_refresh=full_refresh,
            command=command,
            exclude=["resource_type:unit_test"],
        )
        assert result.success, result.report()

    def marts(self, table: str, keys: list[str], columns: list[str]) -> dict[tuple, dict]:
        rows = self.client.query(
            f"SELECT {', '.join(keys + columns)} FROM {{db:Identifier}}.{table}",
            parameters={"db": f"{self.name}_marts"},
        ).result_rows
        return {
            tuple(r[: len(keys)]): dict(zip(columns, r[len(keys) :], strict=True)) for r in rows
        }

    def check(self, allocations: dict[date, dict[str, dict]] | None = None) -> None:
        """Every mart row equals what the payloads say (by default the latest reading of
        each day the pipeline read)."""
        days = self.allocations if allocations is None else allocations
        currency = self.stub.world.currency or ""
        costs = expected_costs(days, currency)
        expenses = expected_expenses(days, currency)
        resources = expected_resources(expenses)
        cost_columns = [*COMPONENTS, "adjustment_cost"]
        assert_rows_equal(
            self.marts(
                "k8s_costs_daily",
                ["date", "allocation_name"],
                [*cost_columns, "cluster", "currency"],
            ),
            costs,
            "k8s_costs_daily",
        )
        assert_rows_equal(
            self.marts(
                "k8s_expenses_daily",
                ["date", "cluster", "level", "resource_key"],
                [*cost_columns, "idle_cost", "total_cost_with_idle", "currency"],
            ),
            expenses,
            "k8s_expenses_daily",
        )
        assert_rows_equal(
            self.marts(
                "k8s_resources",
                ["cluster", "level", "resource_key"],
                ["total_cost", "idle_cost", "first_seen_date", "last_seen_date", "currency"],
            ),
            resources,
            "k8s_resources",
        )

    def readings(self) -> dict[date, tuple[str, str]]:
        """(how the marts built the day, how the landing reads it now), per day."""
        rows = self.client.query(
            "SELECT date, any(allocations_reading), any(landed_reading) "
            "FROM {db:Identifier}.k8s_reconciliation_daily GROUP BY date",
            parameters={"db": f"{self.name}_marts"},
        ).result_rows
        return {day: (built, landed) for day, built, landed in rows}

    def drop(self) -> None:
        for suffix in ("_kubecost", "_staging", "_marts"):
            self.client.command(f"DROP DATABASE IF EXISTS `{self.name}{suffix}`")


@pytest.fixture
def pipelines(chdb_url, ch_client, monkeypatch):
    """`pipelines(world, mode, idle_by_node)` -> a Pipeline against a running stand-in.

    Every pipeline of a test (hypothesis runs several examples in one) lands in the same
    databases, emptied first: the same dbt vars and schema let dbt parse the project once.
    """
    monkeypatch.setenv("SOURCE_KUBECOST_BACKOFF_SECONDS", "0.01")  # 504s retried at once
    name = f"r{secrets.token_hex(5)}"
    made: list[Pipeline] = []

    def make(world, mode: str, idle_by_node: bool = True) -> Pipeline:
        if made:
            made[-1].stub.__exit__(None, None, None)
        pipeline = Pipeline(KubecostStub(world).__enter__(), ch_client, chdb_url, mode,
                            idle_by_node, name)  # fmt: skip
        pipeline.drop()
        made.append(pipeline)
        return pipeline

    yield make
    if made:
        made[-1].stub.__exit__(None, None, None)
        made[-1].drop()


def _restate(world, day: date) -> None:
    """Kubecost restates `day`: one container, one pod, one namespace, one node (with its
    pods) and a whole cluster are gone, a pod is new, another's costs changed."""
    world.drop(day, pod="api-1", name="proxy")  # a container
    world.drop(day, pod="batch-x")  # a pod without a controller
    world.drop(day, cluster="alpha", namespace="ops")  # a namespace
    world.drop(day, cluster="beta", node="b-2")  # a node, its pods and its asset
    world.drop(day, cluster="gamma")  # a cluster
    world.add(day, Container("alpha", "a-1", "shop", "deployment", "cart", "cart-1", "cart",
                             "cart-svc", cpu=0.4, ram=0.1))  # fmt: skip
    world.scale(day, 1.5, cluster="alpha", pod="web-1")


@pytest.mark.parametrize(
    ("mode", "idle_by_node", "currency"),
    [("append_dedup", True, "EUR"), ("append", False, None), ("overwrite", True, "USD")],
)
def test_given_restated_days_when_synced_and_built_then_every_mart_row_equals_the_payloads(
    pipelines, mode, idle_by_node, currency
):
    world = fleet(DAYS, idle_by_node=idle_by_node, currency=currency)
    world.too_big = {DAYS[1], DAYS[2]}  # read per cluster...
    world.too_big_clusters = {DAYS[2]: {"alpha"}}  # ...and alpha per namespace
    pipeline = pipelines(world, mode, idle_by_node)

    pipeline.sync(end=DAYS[2])
    pipeline.build()
    pipeline.check()
    split = [s for s in pipeline.stub.log if "namespace:" in s.params.get("filter", "")]
    assert split, "no day was read per namespace: the split path went untested"

    _restate(world, DAYS[1])  # read per cluster
    _restate(world, DAYS[2])  # read per cluster and per namespace
    pipeline.sync(end=DAYS[3], lookback=2)  # re-reads days 2 and 3, adds day 4
    assert {DAYS[1], DAYS[2]} <= set(readings_of(pipeline.stub.served(2))[0])
    pipeline.build()
    pipeline.check()
    assert set(pipeline.readings().values()) == {("complete", "complete")}
    pipeline.build(full_refresh=True)
    pipeline.check()


def test_given_a_re_read_that_landed_in_part_when_built_then_marts_keep_the_complete_reading(
    pipelines,
):
    world = fleet(DAYS[:2])
    pipeline = pipelines(world, "append_dedup")
    pipeline.sync(end=DAYS[1])
    _restate(world, DAYS[1])
    pipeline.sync(end=DAYS[1], lookback=1)
    pipeline.build()
    complete = dict(pipeline.allocations)
    pipeline.check(complete)

    # the next re-read restates the day again but lands in part (the sync died half-way)
    world.scale(DAYS[1], 2.0, cluster="alpha")
    world.drop(DAYS[1], cluster="beta", pod="db-0")
    pipeline.sync(end=DAYS[1], lookback=1)
    re_read = pipeline.allocations[DAYS[1]]
    landed = {name for name in re_read if sum(map(ord, name)) % 2}
    pipeline.client.command(
        f"ALTER TABLE `{pipeline.landing}`.allocations DELETE WHERE extraction_id = "
        f"(SELECT max(extraction_id) FROM `{pipeline.landing}`.allocations) "
        "AND name NOT IN {landed:Array(String)} SETTINGS mutations_sync = 2",
        parameters={"landed": sorted(landed)},
    )
    pipeline.build()
    pipeline.check(complete)  # the half-landed reading is not read
    assert pipeline.readings()[DAYS[1]] == ("complete", "complete")

    # ClickHouse merges: the half-landed rows replace the complete reading's, key by key
    pipeline.client.command(f"OPTIMIZE TABLE `{pipeline.landing}`.allocations FINAL")
    pipeline.build()
    pipeline.check(complete)  # kept as built: no reading of the day landed whole
    assert pipeline.readings()[DAYS[1]] == ("complete", "incomplete")

    # a full refresh reads each key's latest row from the readings that may have landed
    # whole (the half-landed one and the complete one it merged over), flagged incomplete;
    # keys the complete reading had dropped do not come back
    pipeline.build(full_refresh=True)
    previous = complete[DAYS[1]]
    best_guess = {
        name: re_read[name] if name in landed else previous[name]
        for name in (landed | previous.keys())
    }
    pipeline.check({**complete, DAYS[1]: best_guess})
    assert pipeline.readings()[DAYS[1]] == ("incomplete", "incomplete")

    # the next complete reading replaces the guess
    pipeline.sync(end=DAYS[1], lookback=1)
    pipeline.build()
    pipeline.check()
    assert pipeline.readings()[DAYS[1]] == ("complete", "complete")


# ---------- random sequences of syncs, lookbacks and restatements

RESTATEMENTS = {  # what Kubecost may restate on a day
    "a container": lambda world, day: world.drop(day, pod="api-2", name="proxy"),
    "a pod": lambda world, day: world.drop(day, pod="web-1"),
    "a namespace": lambda world, day: world.drop(day, cluster="beta", namespace="data"),
    "a node": lambda world, day: world.drop(day, cluster="alpha", node="a-2"),
    "a cluster": lambda world, day: world.drop(day, cluster="gamma"),
    "a new pod": lambda world, day: world.add(
        day, Container("beta", "b-3", "data", "job", "etl", "etl-1", "etl", "", cpu=0.3, ram=0.2)
    ),
    "costs": lambda world, day: world.scale(day, 1.25, cluster="beta"),
}
STEP = st.fixed_dictionaries(
    {
        "restated": st.lists(
            st.tuples(st.sampled_from(range(len(DAYS))), st.sampled_from(sorted(RESTATEMENTS))),
            max_size=3,
        ),
        "end": st.sampled_from(range(len(DAYS))),
        "lookback": st.integers(0, 3),
        "build": st.booleans(),
    }
)


@settings(
    max_examples=3,
    derandomize=True,  # the same examples on every run: CI is reproducible
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    mode=st.sampled_from(["append_dedup", "append", "overwrite"]),
    idle_by_node=st.booleans(),
    too_big=st.sets(st.sampled_from(range(len(DAYS))), max_size=2),
    steps=st.lists(STEP, min_size=2, max_size=3),
)
def test_given_random_syncs_and_restatements_then_marts_equal_the_payloads_then_and_in_full(
    pipelines, mode, idle_by_node, too_big, steps
):
    world = fleet(DAYS, idle_by_node=idle_by_node)
    world.too_big = {DAYS[i] for i in too_big}
    world.too_big_clusters = {DAYS[i]: {"beta"} for i in too_big}
    pipeline = pipelines(world, mode, idle_by_node)
    end = 0
    for number, step in enumerate(steps, 1):
        for day, restatement in step["restated"]:
            RESTATEMENTS[restatement](world, DAYS[day])
        end = max(end, step["end"])  # an overwrite sync must keep every day read so far
        pipeline.sync(end=DAYS[end], lookback=step["lookback"])
        if step["build"] or number == len(steps):  # data tests run at the end only
            pipeline.build(command="build" if number == len(steps) else "run")
            pipeline.check()
    pipeline.build(full_refresh=True)
    pipeline.check()


def test_given_a_day_kubecost_answers_empty_when_re_read_then_it_keeps_its_last_reading(
    pipelines,
):
    world = fleet(DAYS[:2])
    pipeline = pipelines(world, "append_dedup")
    pipeline.sync(end=DAYS[1])
    pipeline.build()
    read = dict(pipeline.allocations)

    world.days[DAYS[1]] = Day()  # an ETL gap: Kubecost answers the day with no data
    pipeline.sync(end=DAYS[1], lookback=1)
    assert DAYS[1] not in readings_of(pipeline.stub.served(2))[0]  # asked, answered empty
    assert any(s.params["window"].startswith(str(DAYS[1])) for s in pipeline.stub.served(2)
               if s.endpoint == "allocation")  # fmt: skip
    pipeline.build()
    pipeline.check(read)
