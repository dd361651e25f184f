"""The fleet is deterministic and its money adds up at every level, over HTTP and in Python."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from simulator_helpers import CONTAINER_AGG, DAY, NOW, SPEC, WINDOW, get

from kubecost_pipeline.simulator import Fleet, FleetSpec
from kubecost_pipeline.simulator.model import CPU_USE_HOURS, RAM_USE_HOURS, TICKS

COMPONENTS = (
    "cpuCost",
    "cpuCostAdjustment",
    "gpuCost",
    "gpuCostAdjustment",
    "ramCost",
    "ramCostAdjustment",
    "pvCost",
    "pvCostAdjustment",
    "networkCost",
    "networkCostAdjustment",
    "loadBalancerCost",
    "loadBalancerCostAdjustment",
    "sharedCost",
    "externalCost",
)
# aggregate parameter -> truth level, and how a name maps to the truth key
LEVELS = {
    "cluster": ("cluster", lambda parts: parts),
    "node": ("cluster,node", lambda parts: parts),
    "namespace": ("cluster,namespace", lambda parts: parts),
    "controller": (
        "cluster,namespace,controllerKind,controller",
        lambda p: (p[0], p[1], p[2], p[3].split(":", 1)[-1]),
    ),
    "pod": ("cluster,namespace,pod", lambda parts: parts),
    "container": ("cluster,namespace,pod,container", lambda parts: parts),
}


def ticks(x: float) -> int:
    return round(x * TICKS)


def snapshot(fleet: Fleet) -> list:
    return [(a.props, a.start, a.end, a.v, a.pvs, a.lbs) for a in fleet.allocations(DAY)]


def test_given_the_same_seed_then_the_fleet_is_identical_and_another_seed_differs():
    assert snapshot(Fleet(SPEC, now=NOW)) == snapshot(Fleet(SPEC, now=NOW))
    other = Fleet(FleetSpec(seed=8, clusters=3), now=NOW)
    assert snapshot(other) != snapshot(Fleet(SPEC, now=NOW))
    assert Fleet(SPEC, now=NOW).truth(DAY, level="pod") == Fleet(SPEC, now=NOW).truth(
        DAY, level="pod"
    )


def test_given_a_day_then_each_total_is_the_sum_of_its_components(servers):
    rows = get(servers("kubecost1"), "/allocation", window=WINDOW, accumulate="true")["data"][0]
    for name, a in rows.items():
        assert ticks(a["totalCost"]) == sum(ticks(a[c]) for c in COMPONENTS), name
        split = ("networkCrossZoneCost", "networkCrossRegionCost", "networkInternetCost")
        assert ticks(a["networkCost"]) == sum(ticks(a[c]) for c in split), name


@pytest.mark.parametrize("level", list(LEVELS))
def test_given_each_aggregation_level_then_the_api_equals_the_truth(servers, fleet, level):
    aggregate, to_key = LEVELS[level]
    rows = get(
        servers("kubecost1"),
        "/allocation",
        window=WINDOW,
        accumulate="true",
        aggregate=aggregate,
        idle="false",
    )["data"][0]
    got = {to_key(tuple(name.split("/"))): a["totalCost"] for name, a in rows.items()}
    assert got == fleet.truth(DAY, level=level)


def test_given_containers_then_they_add_up_to_every_higher_level(fleet):
    containers = fleet.truth(DAY, level="container")
    for level, width in (("pod", 3), ("namespace", 2), ("cluster", 1)):
        sums: dict[tuple, int] = defaultdict(int)
        for key, cost in containers.items():
            sums[key[:width]] += ticks(cost)
        assert {k: v / TICKS for k, v in sums.items()} == fleet.truth(DAY, level=level)


def test_given_assets_then_each_node_costs_its_allocations_plus_its_idle(servers):
    server = servers("kubecost1")
    rows = get(
        server,
        "/allocation",
        window=WINDOW,
        accumulate="true",
        aggregate=CONTAINER_AGG,
        splitIdle="true",
        idleByNode="true",
    )["data"][0]
    nodes = get(server, "/assets", window=WINDOW, accumulate="true", filter='assetType:"node"')
    allocated: dict[tuple, Counter] = defaultdict(Counter)
    idle_rows = 0
    for name, a in rows.items():
        p = a["properties"]
        if "node" in p:
            idle_rows += name.endswith("/__idle__")
            for res in ("cpuCost", "ramCost", "gpuCost"):
                allocated[(p["cluster"], p["node"])][res] += ticks(a[res])
    assert nodes["data"][0] and idle_rows == len(nodes["data"][0])
    for asset in nodes["data"][0].values():
        assert asset["type"] == "Node"
        key = (asset["properties"]["cluster"], asset["properties"]["name"])
        for res in ("cpuCost", "ramCost", "gpuCost"):
            assert allocated[key][res] == ticks(asset[res]), (key, res)
        assert ticks(asset["totalCost"]) == sum(
            ticks(asset[r]) for r in ("cpuCost", "ramCost", "gpuCost", "adjustment")
        )


def test_given_assets_then_volumes_and_load_balancers_cost_what_allocations_carry(servers):
    server = servers("kubecost1")
    rows = get(server, "/allocation", window=WINDOW, accumulate="true")["data"][0]
    assets = get(server, "/assets", window=WINDOW, accumulate="true")["data"][0]
    pv = sum(ticks(a["pvCost"]) for a in rows.values())
    lb = sum(ticks(a["loadBalancerCost"]) for a in rows.values())
    disks = [a for a in assets.values() if a["type"] == "Disk"]
    assert pv == sum(ticks(a["totalCost"]) - ticks(a["adjustment"]) for a in disks) > 0
    lbs = [a for a in assets.values() if a["type"] == "LoadBalancer"]
    assert lb == sum(ticks(a["totalCost"]) for a in lbs) > 0
    mgmt = [a for a in assets.values() if a["type"] == "ClusterManagement"]
    assert sum(ticks(a["sharedCost"]) for a in rows.values()) == sum(
        ticks(a["totalCost"]) for a in mgmt
    )


@pytest.mark.parametrize(
    "params",
    [
        {"shareIdle": "true"},
        {"shareIdle": "true", "idleByNode": "true"},
        {"shareNamespaces": "kube-system,kubecost"},
        {"shareTenancyCosts": "false", "idle": "true"},
    ],
)
def test_given_sharing_then_money_moves_but_the_total_is_kept(servers, fleet, params):
    server = servers("kubecost1")
    base = get(server, "/allocation", window=WINDOW, accumulate="true", aggregate="namespace")
    shared = get(
        server, "/allocation", window=WINDOW, accumulate="true", aggregate="namespace", **params
    )["data"][0]
    total = sum(ticks(a["totalCost"]) for a in base["data"][0].values())
    mgmt = 0
    if params.get("shareTenancyCosts") == "false":  # the management fee is no longer shared
        with_fee = fleet.truth(DAY, level="cluster")
        without = fleet.truth(DAY, level="cluster", share_tenancy=False)
        mgmt = sum(ticks(v) for v in with_fee.values()) - sum(ticks(v) for v in without.values())
    assert sum(ticks(a["totalCost"]) for a in shared.values()) == total - mgmt
    if "shareNamespaces" in params:
        assert "kube-system" not in shared and "kubecost" not in shared
    if params.get("shareIdle"):
        assert ticks(shared.get("__idle__", {}).get("cpuCost", 0)) == 0
        before = base["data"][0]
        assert all(a["cpuCost"] >= before[n]["cpuCost"] for n, a in shared.items() if n in before)


def test_given_share_idle_then_truth_folds_idle_and_keeps_only_unsharable_idle(fleet):
    separate = fleet.truth(DAY, level="cluster")
    idle = fleet.truth(DAY, level="idle")
    shared = fleet.truth(DAY, level="cluster", idle_policy="shared")
    left = fleet.truth(DAY, level="idle", idle_policy="shared")
    for (cluster,), cost in separate.items():
        cluster_idle = sum(ticks(v) for k, v in idle.items() if k[0] == cluster)
        cluster_left = sum(ticks(v) for k, v in left.items() if k[0] == cluster)
        assert ticks(shared[(cluster,)]) == ticks(cost) + cluster_idle - cluster_left
    assert fleet.truth(DAY, level="idle", idle_policy="none") == {}


def test_given_days_then_pods_start_restart_and_disappear(fleet):
    days = [DAY + timedelta(days=i) for i in range(10)]
    pods = [{k[:3] for k in fleet.truth(d, level="pod")} for d in days]
    controllers = [{k for k in fleet.truth(d, level="controller")} for d in days]
    assert all(a != b for a, b in itertools.pairwise(pods))  # rollouts, jobs
    assert any(a - b for a, b in itertools.pairwise(controllers))
    jobs = [{k[3] for k in c if k[2] == "job"} for c in controllers]
    assert any(jobs) and not any(a & b for a, b in itertools.pairwise(jobs))  # a Job per run
    kinds = {k[2] for c in controllers for k in c}
    assert kinds == {"deployment", "statefulset", "daemonset", "job", "__unallocated__"}
    rows = list(fleet.allocations(DAY))
    partial = [a for a in rows if a.kind == "container" and a.minutes < 1440]
    assert partial, "some pods run only part of the day"
    assert any(a.kind == "unmounted" and a.pvs for a in rows)


def test_given_now_inside_a_day_then_that_day_is_partial_and_later_days_are_empty(fleet):
    today = NOW.date()
    rows = list(fleet.allocations(today))
    assert rows and max(a.end for a in rows) == NOW.timestamp()
    assert list(fleet.allocations(today + timedelta(days=1))) == []
    assert list(fleet.allocations(SPEC.start - timedelta(days=1))) == []
    assert sum(fleet.truth(today, level="cluster").values()) < sum(
        fleet.truth(today - timedelta(days=1), level="cluster").values()
    )


def test_given_a_container_target_then_a_day_has_about_that_many_containers():
    fleet = Fleet(FleetSpec(seed=3, clusters=2, namespaces_per_cluster=8, containers=3000), now=NOW)
    n = sum(1 for a in fleet.allocations(DAY) if a.kind == "container")
    assert 2500 <= n <= 3500, n


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("clusters", 0),
        ("days", -1),
        ("containers", 0),
        ("nodes_per_cluster", 2.5),
        ("start", "2026-11-01"),
    ],
)
def test_given_a_bad_spec_then_the_error_names_the_value_and_the_fix(field, value):
    with pytest.raises(ValueError, match=f"FleetSpec.{field} must be .*{value!r}"):
        FleetSpec(**{field: value})


def test_given_a_bad_truth_level_or_policy_then_a_clear_error(fleet):
    with pytest.raises(ValueError, match="unknown truth level 'team'"):
        fleet.truth(DAY, level="team")
    with pytest.raises(ValueError, match="unknown idle_policy 'folded'"):
        fleet.truth(DAY, idle_policy="folded")


def test_given_limits_then_usage_and_its_peak_never_exceed_them(fleet):
    specs = {
        (c.namespace.cluster.id, c.namespace.name, c.name, s.name): s
        for cs in fleet.structure.controllers.values()
        for c in cs
        for s in c.containers
    }
    capped = 0
    for a in fleet.allocations(DAY):
        p = a.props
        if a.kind != "container":
            continue
        controller = p.get("controller", p["pod"])
        if p.get("controllerKind") == "job":
            controller = controller.rsplit("-", 1)[0]  # the CronJob of this run's Job
        spec = specs[(p["cluster"], p["namespace"], controller, p["container"])]
        hours = a.minutes / 60
        cpu_use, ram_use = a.v[CPU_USE_HOURS] / hours, a.v[RAM_USE_HOURS] / hours
        for limit, use, peak in (
            (spec.cpu_limit, cpu_use, a.raw[0]),
            (spec.ram_limit, ram_use, a.raw[1]),
        ):
            if limit:
                assert use <= limit * (1 + 1e-9) and peak <= limit * (1 + 1e-9)
                capped += peak == limit
    assert capped, "some container peaks at its limit"
    assert any(s.cpu_limit == 0 for s in specs.values())
    assert any(s.cpu_limit > s.cpu for s in specs.values())
