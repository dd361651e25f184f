"""Query parameters behave as the contract describes: windows, steps, idle, names, filters,
paging, restatement and the ground-truth endpoint."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from simulator_helpers import CONTAINER_AGG, DAY, NOW, SPEC, WINDOW, get

from kubecost_pipeline.simulator import Fleet, SimulatorServer

ADJUSTMENTS = ("cpuCostAdjustment", "ramCostAdjustment", "gpuCostAdjustment", "pvCostAdjustment")


def windows(body: dict) -> list[tuple[str, str]]:
    return [
        (next(iter(s.values()))["window"]["start"], next(iter(s.values()))["window"]["end"])
        for s in body["data"]
        if s
    ]


@pytest.mark.parametrize(
    ("window", "first", "sets"),
    [
        (WINDOW, "2026-11-05T00:00:00Z", 1),
        ("1793836800,1794009600", "2026-11-05T00:00:00Z", 2),
        ("yesterday", "2026-11-19T00:00:00Z", 1),
        ("3d", "2026-11-18T00:00:00Z", 3),  # today (partial) and two full days
        ("2d offset 3d", "2026-11-16T00:00:00Z", 2),
        ("lastweek", "2026-11-08T00:00:00Z", 7),
    ],
)
def test_given_each_window_format_then_daily_sets_cover_it(servers, window, first, sets):
    body = get(servers("kubecost1"), "/allocation", window=window, aggregate="cluster", step="1d")
    assert len(body["data"]) == sets
    assert windows(body)[0][0] == first


@pytest.mark.parametrize(
    "window",
    [
        "2026-11-05T00:00:00.000Z,2026-11-06T00:00:00.000Z",
        "2026-11-05T00:00:00+00:00,2026-11-06T00:00:00+00:00",
        "last-tuesday",
        "2026-11-06T00:00:00Z,2026-11-05T00:00:00Z",
    ],
)
def test_given_an_illegal_window_then_400_text_plain_naming_it(servers, window):
    r = requests.get(servers("opencost").api_url + "/allocation", params={"window": window})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text == f"Invalid 'window' parameter: illegal window: {window}\n"


def test_given_no_step_on_kubecost1_then_recent_windows_come_back_hourly(servers):
    server = servers("kubecost1")
    recent = get(server, "/allocation", window="yesterday", aggregate="cluster")["data"]
    older = get(server, "/allocation", window="3d", aggregate="cluster")["data"]
    pinned = get(server, "/allocation", window="yesterday", aggregate="cluster", step="1d")
    assert (len(recent), len(older), len(pinned["data"])) == (24, 3, 1)
    k2 = get(servers("kubecost2"), "/allocation", window="yesterday", aggregate="cluster")
    assert len(k2["data"]) == 1


def test_given_steps_then_sets_follow_them_and_hourly_sets_have_no_adjustments(servers):
    server = servers("kubecost1")
    three = "2026-11-05T00:00:00Z,2026-11-08T00:00:00Z"
    assert len(get(server, "/allocation", window=three, aggregate="cluster")["data"]) == 3
    assert len(get(server, "/allocation", window=three, accumulate="true")["data"]) == 1
    hourly = get(server, "/allocation", window=WINDOW, step="1h", aggregate="cluster")["data"]
    assert len(hourly) == 24
    for s in hourly:
        assert all(a[f] == 0 for a in s.values() for f in ADJUSTMENTS)
    daily = get(server, "/allocation", window=WINDOW, aggregate="cluster", idle="false")["data"]
    assert any(a["cpuCostAdjustment"] != 0 for a in daily[0].values())
    opencost = get(servers("opencost"), "/allocation", window=three, aggregate="cluster")
    assert len(opencost["data"]) == 1  # OpenCost computes one set unless asked to step
    k2 = get(servers("kubecost2"), "/allocation", window=three, accumulate="day")
    assert len(k2["data"]) == 3


@pytest.mark.parametrize(
    ("flavour", "params", "idle_names"),
    [
        ("kubecost1", {}, ["__idle__"]),
        ("kubecost1", {"idle": "false"}, []),
        ("kubecost1", {"splitIdle": "true"}, ["{c}/__idle__"]),
        ("kubecost1", {"splitIdle": "true", "idleByNode": "true"}, ["{c}/{n}/__idle__"]),
        ("opencost", {}, []),
        ("opencost", {"includeIdle": "true"}, ["__idle__"]),
        ("opencost", {"includeIdle": "true", "splitIdle": "true"}, ["__idle__"]),
    ],
)
def test_given_idle_options_then_idle_rows_are_named_as_kubecost_names_them(
    servers, fleet, flavour, params, idle_names
):
    rows = get(servers(flavour), "/allocation", window=WINDOW, aggregate="cluster", **params)
    names = {n for n in rows["data"][0] if "__idle__" in n}
    expected = set()
    for pattern in idle_names:
        for c in fleet.structure.clusters:
            for n in fleet.structure.nodes[c.id]:
                expected.add(pattern.format(c=c.id, n=n.name))
    assert names == expected


@pytest.mark.parametrize(
    ("flavour", "aggregate", "check"),
    [
        ("kubecost1", "label:app", lambda n, p: n == "__unallocated__" or "=" not in n),
        ("kubecost19", "label:app", lambda n, p: n == "__unallocated__" or n.startswith("app=")),
        ("kubecost1", "namespace,label:team", lambda n, p: n.split("/")[0] == p["namespace"]),
        (
            "kubecost1",
            "deployment",
            lambda n, p: n == "__unallocated__" or p.get("controllerKind") == "deployment",
        ),
        ("kubecost1", "service", lambda n, p: n == "__unallocated__" or p["services"] == [n]),
        (
            "kubecost1",
            "controllerKind",
            lambda n, p: n in {"deployment", "statefulset", "daemonset", "job", "__unallocated__"},
        ),
        (
            "kubecost1",
            "team",
            lambda n, p: (
                n
                in {"platform", "commerce", "growth", "data", "identity", "sre", "__unallocated__"}
            ),
        ),
    ],
)
def test_given_each_aggregate_then_names_are_built_from_it(servers, flavour, aggregate, check):
    rows = get(servers(flavour), "/allocation", window=WINDOW, aggregate=aggregate, idle="false")
    rows = rows["data"][0]
    assert len(rows) > 1
    for name, row in rows.items():
        assert check(name, row["properties"]), (name, row["properties"])


def test_given_a_filter_then_only_matching_rows_and_their_cluster_idle_remain(servers, fleet):
    server = servers("kubecost2")
    cluster = fleet.structure.clusters[1].id
    rows = get(
        server,
        "/allocation",
        window=WINDOW,
        aggregate="cluster,namespace",
        filter=f'cluster:"{cluster}"+namespace!:"kube-system"',
        splitIdle="true",
    )
    rows = rows["data"][0]
    assert f"{cluster}/__idle__" in rows
    others = [n for n in rows if not n.endswith("__idle__")]
    assert others and all(n.startswith(cluster + "/") for n in others)
    assert f"{cluster}/kube-system" not in rows
    either = get(
        server,
        "/allocation",
        window=WINDOW,
        aggregate="namespace",
        idle="false",
        filter='(namespace:"nope"|namespace<~:"kube-s")+cluster~:"-"',
    )
    assert set(either["data"][0]) == {"kube-system"}


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"filter": 'team:"x"+bogus:"y"'}, "unknown field 'bogus'"),
        ({"filter": 'cluster:"a"+namespace:"b"|pod:"c"'}, "mix + and | only with parentheses"),
        ({"filter": "cluster=a"}, "unexpected input"),
        ({"aggregate": "cluster,teams"}, "unknown aggregation property 'teams'"),
    ],
)
def test_given_a_bad_filter_or_aggregate_then_400_json_naming_it(servers, params, needle):
    r = requests.get(
        servers("kubecost2").api_url + "/allocation", params={"window": WINDOW, **params}
    )
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 400 and body["data"] is None and needle in body["message"]


def test_given_offset_and_limit_then_pages_are_by_cost_with_idle_on_every_page(servers):
    server = servers("kubecost1")
    params = {"window": WINDOW, "accumulate": "true", "aggregate": "cluster,namespace,pod"}
    full = get(server, "/allocation", **params)["data"][0]
    pages, offset = [], 0
    while True:
        page = get(server, "/allocation", offset=str(offset), limit="7", **params)["data"][0]
        assert "__idle__" in page
        items = {n: a for n, a in page.items() if n != "__idle__"}
        pages.append(items)
        if len(items) < 7:
            break
        offset += 7
    costs = [
        a["totalCost"] for p in pages for a in sorted(p.values(), key=lambda a: -a["totalCost"])
    ]
    assert costs == sorted(costs, reverse=True)
    merged = {n: a for p in pages for n, a in p.items()}
    assert sum(len(p) for p in pages) == len(merged) == len(full) - 1
    assert merged.keys() == set(full) - {"__idle__"}
    ignored = get(servers("opencost"), "/allocation", limit="3", **params)["data"][0]
    assert len(ignored) > 3  # OpenCost has no paging


def test_given_a_re_read_of_a_recent_day_then_adjustments_are_restated_and_truth_follows():
    fleet = Fleet(SPEC, now=NOW)
    yesterday = NOW.date() - timedelta(days=1)
    window = f"{yesterday}T00:00:00Z,{NOW.date()}T00:00:00Z"
    old = f"{DAY}T00:00:00Z,{DAY + timedelta(days=1)}T00:00:00Z"
    with SimulatorServer(fleet, flavour="kubecost2") as server:
        reads = [
            get(server, "/allocation", window=window, aggregate="cluster,namespace", idle="false")[
                "data"
            ][0]
            for _ in range(3)
        ]
        olds = [
            get(server, "/allocation", window=old, aggregate="cluster,namespace")["data"][0]
            for _ in range(2)
        ]
        truth = get(server, "/truth", window=window, level="namespace")["data"]["sets"][0]
    assert all(a["cpuCostAdjustment"] == 0 for a in reads[0].values())  # not reconciled yet
    assert reads[0] != reads[1] != reads[2]
    assert olds[0] == olds[1]  # final days do not move
    latest = {tuple(n.split("/")): a["totalCost"] for n, a in reads[2].items()}
    assert latest == fleet.truth(yesterday, level="namespace")
    assert {tuple(t["key"]): t["totalCost"] for t in truth["totals"]} == latest


def test_given_the_truth_endpoint_then_it_serves_the_python_truth_per_day(servers, fleet):
    server = servers("opencost")
    body = get(
        server,
        "/truth",
        window="2026-11-05T00:00:00Z,2026-11-07T00:00:00Z",
        level="controller",
        step="1d",
    )["data"]
    assert [s["window"]["start"] for s in body["sets"]] == [
        "2026-11-05T00:00:00Z",
        "2026-11-06T00:00:00Z",
    ]
    for i, s in enumerate(body["sets"]):
        day = date(2026, 11, 5) + timedelta(days=i)
        expected = fleet.truth(day, level="controller", share_tenancy=False, reconcile=False)
        assert {tuple(t["key"]): t["totalCost"] for t in s["totals"]} == expected
    served = get(server, "/allocation", window=WINDOW, aggregate="cluster,namespace")["data"][0]
    assert {tuple(n.split("/")): a["totalCost"] for n, a in served.items()} == fleet.truth(
        DAY, level="namespace", share_tenancy=False, reconcile=False
    )
    r = requests.get(server.base_url + "/truth", params={"window": "1h"})
    assert r.status_code == 400 and "whole UTC days" in r.json()["message"]


def test_given_requests_then_the_server_logs_their_path_and_query(fleet):
    with SimulatorServer(fleet, flavour="opencost") as server:
        get(server, "/allocation", window=WINDOW, aggregate=CONTAINER_AGG, includeIdle="true")
        get(server, "/clusterInfo")
    assert server.requests == [
        ("/allocation", {"window": WINDOW, "aggregate": CONTAINER_AGG, "includeIdle": "true"}),
        ("/clusterInfo", {}),
    ]


def test_given_today_then_the_set_ends_at_now(servers):
    body = get(servers("kubecost1"), "/allocation", window="today", aggregate="cluster", step="1d")
    rows = body["data"][0]
    assert max(a["end"] for a in rows.values()) == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["data"][0][next(iter(rows))]["window"]["end"] == "2026-11-21T00:00:00Z"
    future = get(
        servers("kubecost1"), "/allocation", window="2026-12-05T00:00:00Z,2026-12-06T00:00:00Z"
    )
    assert future["data"] == [{}]
    assert datetime(2026, 11, 21, tzinfo=UTC) > NOW


def test_given_share_idle_on_kubecost2_then_the_idle_portion_is_reported(servers, fleet):
    server = servers("kubecost2")
    rows = get(
        server, "/allocation", window=WINDOW, aggregate="cluster,namespace", shareIdle="true"
    )["data"][0]
    idle = sum(v for v in fleet.truth(DAY, level="idle").values())
    left = sum(v for v in fleet.truth(DAY, level="idle", idle_policy="shared").values())
    shared = sum(a["cpuCostIdle"] + a["ramCostIdle"] + a["gpuCostIdle"] for a in rows.values())
    assert round(shared, 5) == round(idle - left, 5) != 0


def test_given_no_reconciliation_then_adjustments_are_zero(servers):
    server = servers("kubecost1")
    rows = get(server, "/allocation", window=WINDOW, aggregate="namespace", reconcile="false")
    assert all(a[f] == 0 for a in rows["data"][0].values() for f in ADJUSTMENTS)
    assets = get(server, "/assets", window=WINDOW, disableAdjustments="true")["data"][0]
    assert all(a.get("adjustment", 0) == 0 for a in assets.values())
    assert any(
        a.get("adjustment") for a in get(server, "/assets", window=WINDOW)["data"][0].values()
    )


def test_given_assets_aggregated_by_type_or_filtered_then_costs_are_kept(servers, fleet):
    server = servers("kubecost1")
    every = get(server, "/assets", window=WINDOW, accumulate="true")["data"][0]
    by_type = get(server, "/assets", window=WINDOW, accumulate="true", aggregate="type")["data"][0]
    assert set(by_type) == {"Node", "Disk", "LoadBalancer", "ClusterManagement"}
    for kind, agg in by_type.items():
        total = sum(a["totalCost"] for a in every.values() if a["type"] == kind)
        assert round(agg["totalCost"], 5) == round(total, 5), kind
    cluster = fleet.structure.clusters[2].id
    one = get(server, "/assets", window=WINDOW, filter=f'cluster:"{cluster}"')["data"][0]
    assert one and all(a["properties"]["cluster"] == cluster for a in one.values())
    r = requests.get(server.api_url + "/assets", params={"window": WINDOW, "filter": 'pod:"x"'})
    assert r.status_code == 400 and "unknown field 'pod'" in r.json()["message"]


def test_given_allocation_compute_then_it_answers_like_allocation(servers):
    server = servers("opencost")
    params = {"window": WINDOW, "aggregate": "namespace"}
    assert get(server, "/allocation/compute", **params) == get(server, "/allocation", **params)


def test_given_v1_filters_or_an_old_flavour_then_filters_follow_the_version(servers, fleet):
    """v2 `filter` wins where it exists; Kubecost 1.9x reads only the v1 filters; OpenCost
    1.112 ignores both on /allocation."""
    cluster = fleet.structure.clusters[1].id
    prefix = fleet.structure.namespaces[cluster][-1].name[:3] + "*"
    v1 = {"filterClusters": cluster, "filterNamespaces": prefix, "aggregate": "cluster,namespace"}
    for flavour in ("kubecost2", "kubecost19"):
        names = set(
            get(servers(flavour), "/allocation", window=WINDOW, idle="false", **v1)["data"][0]
        )
        assert names and all(n.startswith(f"{cluster}/{prefix[:-1]}") for n in names), flavour
        old = get(
            servers(flavour), "/allocation", window=WINDOW, idle="false", filter='cluster:"x"', **v1
        )["data"][0]
        assert (set(old) == names) == (flavour == "kubecost19")  # v2 wins on 2.x: nothing left
    everything = get(servers("opencost"), "/allocation", window=WINDOW, aggregate="cluster")
    ignored = get(
        servers("opencost"),
        "/allocation",
        window=WINDOW,
        aggregate="cluster",
        filter=f'cluster:"{cluster}"',
        filterClusters=cluster,
    )
    assert ignored["data"] == everything["data"] and len(everything["data"][0]) > 1
