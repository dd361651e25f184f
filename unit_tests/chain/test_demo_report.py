"""The demo's Allocations view on hand-made mart rows: two clusters in two currencies, one of
them with fewer days; every number below is worked out by hand from the rows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from kubecost_pipeline.demo_report import allocations, summary_text, write_html

EXPENSES = [  # date, cluster, level, resource_key, currency, total_cost, idle_cost
    ("2026-11-01", "eu", "cluster", "eu", "EUR", 30.0, 10.0),
    ("2026-11-02", "eu", "cluster", "eu", "EUR", 30.0, 10.0),
    ("2026-11-01", "eu", "namespace", "shop", "EUR", 20.0, 0.0),
    ("2026-11-02", "eu", "namespace", "shop", "EUR", 20.0, 0.0),
    ("2026-11-01", "eu", "namespace", "batch", "EUR", 10.0, 0.0),
    ("2026-11-02", "eu", "namespace", "batch", "EUR", 10.0, 0.0),
    ("2026-11-02", "us", "cluster", "us", "USD", 50.0, 50.0),
    ("2026-11-02", "us", "namespace", "shop", "USD", 50.0, 0.0),
]
CONTAINERS = [  # cluster, namespace, is_idle, cpu_cost, ram_cost, cpu_eff, ram_eff
    ("eu", "shop", 0, 30.0, 10.0, 0.5, 0.1),  # (15 + 1) / 40 = 0.4
    ("eu", "batch", 0, 10.0, 10.0, 0.9, None),  # only CPU reported: 9 / 10 = 0.9
    ("eu", "", 1, 15.0, 5.0, 0.0, 0.0),  # idle: not a namespace
    ("us", "shop", 0, 0.0, 0.0, None, None),  # nothing reported: n/a
]
PODS = [  # cluster, resource_key, currency, monthly_saving
    ("eu", "shop/web-1", "EUR", 12.5),
    ("us", "shop/api-1", "USD", 40.0),
    ("eu", "batch/job-1", "EUR", 0.0),
]


@pytest.fixture
def marts(ch_client: Any, ch_database: str) -> str:
    """The three marts with the columns the view reads, holding the rows above."""
    db = f"`{ch_database}`"
    ch_client.command(
        f"CREATE TABLE {db}.k8s_expenses_daily (date Date, cluster String, level String, "
        "resource_key String, currency String, total_cost Float64, idle_cost Float64) "
        "ENGINE = Memory"
    )
    ch_client.command(
        f"CREATE TABLE {db}.k8s_costs_daily (cluster String, namespace String, is_idle Bool, "
        "cpu_cost Float64, ram_cost Float64, cpu_efficiency Nullable(Float64), "
        "ram_efficiency Nullable(Float64)) ENGINE = Memory"
    )
    ch_client.command(
        f"CREATE TABLE {db}.k8s_resources (cluster String, level String, resource_key String, "
        "currency String, monthly_saving Float64, cpu_request_cores Float64, "
        "recommended_cpu_cores Float64, ram_request_bytes Float64, "
        "recommended_ram_bytes Float64) ENGINE = Memory"
    )
    ch_client.command(f"INSERT INTO {db}.k8s_expenses_daily VALUES {values(EXPENSES)}")
    ch_client.command(f"INSERT INTO {db}.k8s_costs_daily VALUES {values(CONTAINERS)}")
    pods = [(pod[0], "pod", *pod[1:], 1.0, 0.25, 2**30, 2**28) for pod in PODS]
    ch_client.command(f"INSERT INTO {db}.k8s_resources VALUES {values(pods)}")
    return ch_database


def values(rows: list[tuple[Any, ...]]) -> str:
    def literal(value: Any) -> str:
        return "NULL" if value is None else repr(value)

    return ", ".join("(" + ", ".join(map(literal, row)) + ")" for row in rows)


def test_given_two_currencies_then_each_namespace_in_its_own_and_totals_per_currency(
    ch_client: Any, marts: str
) -> None:
    summary = allocations(ch_client, marts)
    text = summary_text(summary)

    rows = re.findall(r"^  (\S+) +([\d,.]+ \w+) +(\S+) +([\d,.]+ \w+)$", text, flags=re.M)
    assert rows == [
        # us has one day: 50 / 1 x 730/24; eu two: 40 / 2 x 730/24 and 20 / 2 x 730/24
        ("us/shop", "50.00 USD", "n/a", "1,520.83 USD"),
        ("eu/shop", "40.00 EUR", "40.0%", "608.33 EUR"),
        ("eu/batch", "20.00 EUR", "90.0%", "304.17 EUR"),
    ]
    totals = re.findall(r"^  total +([\d,.]+ \w+) +([\d,.]+ \w+)$", text, flags=re.M)
    assert totals == [("60.00 EUR", "912.50 EUR"), ("50.00 USD", "1,520.83 USD")]
    assert summary.covered_days == {"eu": 2, "us": 1}
    savings = re.findall(r"^ +([\d,.]+ \w+)  (\S+)", text.split("Top savings")[1], flags=re.M)
    assert savings == [
        ("40.00 USD", "us/shop/api-1"),
        ("12.50 EUR", "eu/shop/web-1"),
        ("12.50 EUR", "all"),  # all pods together, per currency
        ("40.00 USD", "all"),
    ]
    assert "(CPU 1.00 -> 0.25 cores, RAM 1,024 -> 256 MiB)" in text


def test_given_two_currencies_then_the_report_has_a_section_for_each_and_nothing_external(
    ch_client: Any, marts: str, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"

    write_html(allocations(ch_client, marts), page)

    text = page.read_text()
    assert text.count("<h2>Costs in ") == 2
    assert "<h2>Costs in EUR</h2>" in text and "<h2>Costs in USD</h2>" in text
    assert text.count("<svg") == 6  # three charts per currency
    assert "://" not in text
    assert not re.search(r"(?i)\b(src|href)\s*=|url\(|@import|<script|<link|<img", text)
    # The idle share of us is 50 / (50 + 50), of eu 20 / (60 + 20).
    assert "idle 50.0%" in text and "idle 25.0%" in text


def test_given_empty_marts_then_one_line_and_a_report_without_charts(
    ch_client: Any, marts: str, tmp_path: Path
) -> None:
    for table in ("k8s_expenses_daily", "k8s_costs_daily", "k8s_resources"):
        ch_client.command(f"TRUNCATE TABLE `{marts}`.{table}")
    summary = allocations(ch_client, marts)

    write_html(summary, tmp_path / "report.html")

    assert summary_text(summary) == "Allocations by namespace: the marts hold no costs."
    assert "<svg" not in (tmp_path / "report.html").read_text()
