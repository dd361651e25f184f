"""The documented analyst queries (docs/analyst-queries.md, the sections marked *checked*)
mean what they say: each runs on marts freshly built from a small hand-made landing, and
its answer equals one computed here from the landing's raw rows in plain Python.

The landing: two clusters in two currencies over 34 days (30 Oct - 2 Dec 2026: 2 days of
October, 30 of November, 2 of December), labels on pods and on namespaces, containers with
and without an efficiency, a namespace missing every sixth day (a gap) and one that first
appears on 15 Nov, idle per node.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.slow  # dbt builds, real processes: `make test` only

DOC = Path(__file__).resolve().parents[2] / "docs" / "analyst-queries.md"
DAYS = [date(2026, 10, 30) + timedelta(days=i) for i in range(34)]
EXTRACTED = datetime(2026, 12, 3, 1, 0, 0)
CLUSTERS = {  # cluster: (currency, region, node, idle per day before the day's factor)
    "eu": ("EUR", "eu-west-1", "node-a", 1.5),
    "us": ("USD", "us-east-1", "node-u", 0.5),
}
PAYMENTS = {"team": "payments"}
# cluster, namespace, pod, container, pod labels, namespace labels, cpu, ram and network
# cost per day before the day's factor, cpu and ram efficiency (None: Kubecost reports none)
CONTAINERS = [
    ("eu", "payments", "api-1", "api", {"team": "checkout", "app": "api"}, PAYMENTS,
     2.0, 1.0, 0.0, 0.25, 0.5),
    ("eu", "payments", "api-1", "proxy", {"team": "checkout", "app": "api"}, PAYMENTS,
     0.5, 0.25, 0.0, 0.8, 0.4),
    ("eu", "payments", "worker-1", "worker", {"app": "worker"}, PAYMENTS,
     1.0, 0.8, 0.9, 0.6, 0.7),
    ("eu", "tools", "runner-1", "runner", {}, {}, 0.3, 0.2, 0.1, None, None),
    ("us", "web", "web-0", "nginx", {"team": "web"}, {}, 0.7, 0.3, 0.2, 0.3, 0.6),
    ("us", "batch", "job-1", "job", {}, {"team": "data"}, 0.4, 0.45, 0.0, 0.9, 0.8),
]  # fmt: skip


def _factor(day: date, index: int) -> float:
    """A different multiplier per day and container, so no two changes tie."""
    return 1 + ((day.toordinal() * 7 + index * 3) % 11) / 20 + index / 1000


def _present(namespace: str, day: date) -> bool:
    if namespace == "tools":  # a gap: missing every sixth day
        return DAYS.index(day) % 6 != 3
    if namespace == "batch":  # a namespace that appears mid-month
        return day >= date(2026, 11, 15)
    return True


def _raw_rows() -> list[dict]:
    """The day's allocations as Kubecost would answer them, one dict per record."""
    rows = []
    for day in DAYS:
        for index, (cluster, ns, pod, container, labels, ns_labels, cpu, ram, network,
                    cpu_eff, ram_eff) in enumerate(CONTAINERS):  # fmt: skip
            if not _present(ns, day):
                continue
            node = CLUSTERS[cluster][2]
            cpu_cost, ram_cost, network_cost = (
                round(cost * _factor(day, index), 6) for cost in (cpu, ram, network)
            )
            rows.append(dict(
                day=day, name=f"{cluster}/{node}/{ns}/{pod}/{container}", cluster=cluster,
                node=node, namespace=ns, pod=pod, container=container, labels=labels,
                namespace_labels=ns_labels, cpu_cost=cpu_cost, ram_cost=ram_cost,
                network_cost=network_cost, cpu_eff=cpu_eff, ram_eff=ram_eff,
                total=cpu_cost + ram_cost + network_cost, is_idle=False,
            ))  # fmt: skip
        for cluster, (_, _, node, idle) in CLUSTERS.items():
            total = round(idle * _factor(day, 9), 6)
            rows.append(dict(
                day=day, name=f"{cluster}/{node}/__idle__", cluster=cluster, node=node,
                namespace="", pod="", container="", labels={}, namespace_labels={},
                cpu_cost=round(total * 0.6, 6), ram_cost=total - round(total * 0.6, 6),
                network_cost=0.0, cpu_eff=None, ram_eff=None, total=total, is_idle=True,
            ))  # fmt: skip
    return rows


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, 9)))


@pytest.fixture
def landing(ch_client, ch_database, seeded_landing):
    """The hand-made landing, in tables shaped exactly like the destination's (the
    harness seeds' columns)."""
    name = f"{ch_database}_kubecost"
    ch_client.command(f"CREATE DATABASE `{name}`")
    for table, seed, order in (
        ("allocations", "allocations_data", "window_start, granularity, idle_policy, name"),
        ("assets", "assets_data", "window_start, key"),
        ("clusters", "clusters_data", "_airbyte_raw_id"),
    ):
        ch_client.command(
            f"CREATE TABLE `{name}`.`{table}` AS `{seeded_landing}`.`{seed}` "
            f"ENGINE = MergeTree() ORDER BY ({order})"
        )
    rows = _raw_rows()
    per_day = defaultdict(int)
    for row in rows:
        per_day[row["day"]] += 1
    columns = [
        "_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta", "_airbyte_generation_id",
        "window_start", "window_end", "name", "granularity", "idle_policy", "extraction_id",
        "extraction_records", "is_idle", "cluster", "node", "namespace", "pod", "container",
        "controllerKind", "controller", "labels", "namespaceLabels", "minutes", "cpuCost",
        "ramCost", "networkCost", "cpuEfficiency", "ramEfficiency", "totalCost",
    ]  # fmt: skip
    data = []
    for i, row in enumerate(rows):
        start = datetime.combine(row["day"], datetime.min.time())
        data.append([
            f"{i:08d}-0000-4000-8000-000000000000", EXTRACTED, "{}", 0,
            start, start + timedelta(days=1), row["name"], "container", "separate",
            f"{EXTRACTED:%Y-%m-%dT%H:%M:%S}.000000Z-{row['day']:%Y%m%d}", per_day[row["day"]],
            row["is_idle"], row["cluster"], row["node"], row["namespace"], row["pod"],
            row["container"], "deployment" if row["pod"] else "",
            row["pod"].rsplit("-", 1)[0], json.dumps(row["labels"]),
            json.dumps(row["namespace_labels"]), _decimal(1440), _decimal(row["cpu_cost"]),
            _decimal(row["ram_cost"]), _decimal(row["network_cost"]),
            _decimal(row["cpu_eff"]), _decimal(row["ram_eff"]), _decimal(row["total"]),
        ])  # fmt: skip
    ch_client.insert(f"`{name}`.allocations", data, column_names=columns)
    ch_client.insert(
        f"`{name}`.clusters",
        [
            [f"c{i}", EXTRACTED, "{}", 0, cluster, cluster, "AWS", "1234", region, "1.29+",
             currency]
            for i, (cluster, (currency, region, _, _)) in enumerate(CLUSTERS.items())
        ],
        column_names=[
            "_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta",
            "_airbyte_generation_id", "id", "name", "provider", "account", "region", "version",
            "currency",
        ],
    )  # fmt: skip
    yield name, rows
    ch_client.command(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def marts(dbt, ch_client, ch_database, landing):
    """Marts built from the hand-made landing: `run(title)` runs a documented query,
    `query(sql)` any other (`{db}`: the marts database); `rows` are the landing's raw rows,
    `ran` the titles run so far, `checked` those the doc marks as checked."""
    name, rows = landing
    dbt(["build"], vars={"kubecost_database": name})
    queries = dict(re.findall(r"^## (.*?)\n.*?```sql\n(.*?)```", DOC.read_text(), re.S | re.M))

    def run(title: str) -> list[tuple]:
        ran.add(title)
        sql = queries[title].replace("kubecost_marts.", f"`{ch_database}_marts`.")
        return [tuple(r) for r in ch_client.query(sql).result_rows]

    def query(sql: str) -> list[tuple]:
        return [
            tuple(r) for r in ch_client.query(sql.format(db=f"`{ch_database}_marts`")).result_rows
        ]

    ran: set[str] = set()
    checked = {title for title in queries if title.endswith("(checked)")}
    return SimpleNamespace(run=run, query=query, rows=rows, ran=ran, checked=checked)


def _close(actual, expected, tolerance: float) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    return abs(actual - expected) <= tolerance


CENT = 0.005 + 1e-9  # the queries round to 2 decimals
MILLI = 0.0005 + 1e-9  # or to 3


def _team(row: dict) -> str:
    return row["labels"].get("team") or row["namespace_labels"].get("team") or "__unallocated__"


def test_given_hand_made_marts_then_each_checked_query_gives_the_hand_computed_answer(marts):
    run, rows = marts.run, marts.rows
    currency = {c: v[0] for c, v in CLUSTERS.items()}
    allocated = [r for r in rows if not r["is_idle"]]
    last = max(DAYS)
    week = [d for d in DAYS if d > last - timedelta(days=7)]

    # Fleet cost per currency: idle included, never two currencies together
    fleet = defaultdict(float)
    for r in rows:
        fleet[currency[r["cluster"]]] += r["total"]
    actual = run("Fleet cost per currency (checked)")
    assert [(c, n) for c, n, _ in actual] == [("EUR", 1), ("USD", 1)]
    assert all(_close(cost, fleet[c], CENT) for c, _, cost in actual)

    # Cost by label per month: pod label, else namespace label, else __unallocated__
    by_label = defaultdict(float)
    for r in allocated:
        month = r["day"].replace(day=1)
        by_label[month, r["cluster"], currency[r["cluster"]], _team(r)] += r["total"]
    actual = {tuple(a[:4]): a[4] for a in run("Cost by label per month (checked)")}
    assert actual.keys() == by_label.keys()
    assert {k[3] for k in actual} == {"checkout", "payments", "__unallocated__", "web", "data"}
    assert all(_close(actual[k], v, CENT) for k, v in by_label.items())

    # Showback per cluster this month (December), with each team's share of its cluster
    december = [r for r in allocated if r["day"] >= last.replace(day=1)]
    team_cost, cluster_cost = defaultdict(float), defaultdict(float)
    for r in december:
        team_cost[r["cluster"], _team(r)] += r["total"]
        cluster_cost[r["cluster"]] += r["total"]
    actual = run("Showback per cluster this month, in its currency (checked)")
    assert {(a[0], a[2]) for a in actual} == team_cost.keys()
    for cluster, cur, team, cost, share in actual:
        assert cur == currency[cluster]
        assert _close(cost, team_cost[cluster, team], CENT)
        assert _close(share, team_cost[cluster, team] / cluster_cost[cluster], MILLI)

    # Top pods over the last 7 days of data
    pod_cost = defaultdict(float)
    for r in allocated:
        if r["day"] in week:
            pod_cost[r["cluster"], currency[r["cluster"]], r["namespace"], r["pod"]] += r["total"]
    expected = sorted(pod_cost.items(), key=lambda kv: -kv[1])[:10]
    actual = run("Top pods over the last 7 days of data (checked)")
    assert [a[:4] for a in actual] == [k for k, _ in expected]
    assert all(_close(a[4], v, CENT) for a, (_, v) in zip(actual, expected, strict=True))

    # Top namespaces with idle shared: each day, the cluster's CPU idle by the namespace's
    # share of the cluster's CPU cost, RAM idle by its share of RAM cost
    cluster_cpu, cluster_ram = defaultdict(float), defaultdict(float)
    idle_parts = {(r["day"], r["cluster"]): r for r in rows if r["is_idle"]}
    for r in allocated:
        cluster_cpu[r["day"], r["cluster"]] += r["cpu_cost"]
        cluster_ram[r["day"], r["cluster"]] += r["ram_cost"]
    ns_allocated, ns_with_idle = defaultdict(float), defaultdict(float)
    for r in allocated:
        if r["day"] in week:
            key = r["cluster"], currency[r["cluster"]], r["namespace"]
            idle_row = idle_parts[r["day"], r["cluster"]]
            share = (
                idle_row["cpu_cost"] * r["cpu_cost"] / cluster_cpu[r["day"], r["cluster"]]
                + idle_row["ram_cost"] * r["ram_cost"] / cluster_ram[r["day"], r["cluster"]]
            )  # the idle row's cpu and ram add up to its total
            ns_allocated[key] += r["total"]
            ns_with_idle[key] += r["total"] + share
    expected = sorted(ns_with_idle.items(), key=lambda kv: -kv[1])[:10]
    actual = run("Top namespaces over the last 7 days of data, idle shared (checked)")
    assert [a[:3] for a in actual] == [k for k, _ in expected]
    for (*_, allocated_cost, with_idle_cost), (key, value) in zip(actual, expected, strict=True):
        assert _close(allocated_cost, ns_allocated[key], CENT)
        assert _close(with_idle_cost, value, CENT)

    # Idle trend: daily idle and its share of the cluster's cost with idle
    idle, with_idle = defaultdict(float), defaultdict(float)
    for r in rows:
        with_idle[r["day"], r["cluster"]] += r["total"]
        if r["is_idle"]:
            idle[r["day"], r["cluster"]] += r["total"]
    actual = run("Idle trend (checked)")
    assert [(a[0], a[1]) for a in actual] == sorted(idle, key=lambda k: (k[1], k[0]))
    for day, cluster, cur, idle_cost, share in actual:
        assert cur == currency[cluster]
        assert _close(idle_cost, idle[day, cluster], CENT)
        assert _close(share, idle[day, cluster] / with_idle[day, cluster], MILLI)

    # Efficiency by namespace: each efficiency weighted by its own cost, over the
    # containers that report one (tools reports none)
    sums = defaultdict(lambda: [0.0] * 5)  # cost, cpu x eff, cpu, ram x eff, ram
    for r in allocated:
        if r["day"] in week:
            s = sums[r["cluster"], r["namespace"]]
            s[0] += r["total"]
            if r["cpu_eff"] is not None:
                s[1] += r["cpu_eff"] * r["cpu_cost"]
                s[2] += r["cpu_cost"]
            if r["ram_eff"] is not None:
                s[3] += r["ram_eff"] * r["ram_cost"]
                s[4] += r["ram_cost"]
    actual = run("Efficiency by namespace over the last 7 days of data (checked)")
    assert {(a[0], a[1]) for a in actual} == sums.keys()
    for cluster, ns, cost, cpu_eff, ram_eff, total_eff in actual:
        cost_, cpu_w, cpu, ram_w, ram = sums[cluster, ns]
        assert _close(cost, cost_, CENT)
        assert _close(cpu_eff, cpu_w / cpu if cpu else None, MILLI)
        assert _close(ram_eff, ram_w / ram if ram else None, MILLI)
        assert _close(total_eff, (cpu_w + ram_w) / (cpu + ram) if cpu + ram else None, MILLI)
    # the per-level mart carries the same weighting per day
    daily = defaultdict(lambda: [0.0] * 4)  # cpu x eff, cpu, ram x eff, ram
    for r in allocated:
        if r["cpu_eff"] is not None:
            d = daily[r["day"], r["cluster"], r["namespace"]]
            d[0] += r["cpu_eff"] * r["cpu_cost"]
            d[1] += r["cpu_cost"]
            d[2] += r["ram_eff"] * r["ram_cost"]
            d[3] += r["ram_cost"]
    view = marts.query(
        "select date, cluster, namespace, cpu_efficiency, ram_efficiency, total_efficiency "
        "from {db}.k8s_namespace_costs_daily"
    )
    assert len(view) == len({(r["day"], r["cluster"], r["namespace"]) for r in allocated})
    for day, cluster, ns, cpu_eff, ram_eff, total_eff in view:
        cpu_w, cpu, ram_w, ram = daily.get((day, cluster, ns), [0.0] * 4)
        assert _close(cpu_eff, cpu_w / cpu if cpu else None, 1e-9)
        assert _close(ram_eff, ram_w / ram if ram else None, 1e-9)
        assert _close(total_eff, (cpu_w + ram_w) / (cpu + ram) if cpu + ram else None, 1e-9)
    payments = next(a for a in actual if a[1] == "payments")
    assert payments[5] != round(
        sum(r["total"] * (r["cpu_eff"] * r["cpu_cost"] + r["ram_eff"] * r["ram_cost"])
            / (r["cpu_cost"] + r["ram_cost"]) for r in allocated
            if r["day"] in week and r["namespace"] == "payments")
        / payments[2], 3,
    )  # fmt: skip  # weighting by total cost, network included (the old query), differs

    # Day-over-day: the change from the day before; none on a namespace's first day or
    # after a day without it, and those days are not ranked
    ns_cost = defaultdict(float)
    for r in allocated:
        ns_cost[r["day"], r["cluster"], r["namespace"]] += r["total"]
    changes = {
        (day, cluster, ns): cost - ns_cost[day - timedelta(days=1), cluster, ns]
        for (day, cluster, ns), cost in ns_cost.items()
        if (day - timedelta(days=1), cluster, ns) in ns_cost
    }
    actual = run("Day-over-day change per namespace (checked)")
    assert len(actual) == 20
    for day, cluster, cur, ns, cost, change in actual:
        assert (day, cluster, ns) in changes  # never a first day or a day after a gap
        assert cur == currency[cluster]
        assert _close(cost, ns_cost[day, cluster, ns], CENT)
        assert _close(change, changes[day, cluster, ns], CENT)
    top = sorted((abs(c) for c in changes.values()), reverse=True)[:20]
    assert all(_close(abs(a[5]), t, 2 * CENT) for a, t in zip(actual, top, strict=True))
    assert (date(2026, 11, 15), "us", "batch") not in changes  # batch's first day
    assert any(k[2] == "tools" for k in ns_cost) and any(
        k[2] == "tools" and k not in changes and k[0] != DAYS[0] for k in ns_cost
    )  # tools comes back after gaps: those days have no change

    # Month-over-month: days covered, the run rate (average day x 730 h / 24), and its
    # change from the previous month's run rate; none for the first month
    month_cost, month_days = defaultdict(float), defaultdict(set)
    for r in rows:
        key = r["day"].replace(day=1), r["cluster"]
        month_cost[key] += r["total"]
        month_days[key].add(r["day"])
    actual = run("Month-over-month, with days covered and a monthly run rate (checked)")
    assert [(a[0], a[1]) for a in actual] == sorted(month_cost, key=lambda k: (k[1], k[0]))
    assert [a[3] for a in actual if a[1] == "eu"] == [2, 30, 2]
    previous: dict[str, float] = {}
    for month, cluster, cur, days, cost, run_rate, change in actual:
        expected_rate = month_cost[month, cluster] / days * 730 / 24
        assert cur == currency[cluster] and days == len(month_days[month, cluster])
        assert _close(cost, month_cost[month, cluster], CENT)
        assert _close(run_rate, expected_rate, CENT)
        prior = previous.get(cluster)
        assert _close(change, expected_rate / prior - 1 if prior else None, MILLI)
        previous[cluster] = expected_rate

    assert marts.ran == marts.checked  # every query the doc marks checked was checked here
