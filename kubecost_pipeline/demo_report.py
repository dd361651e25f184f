"""What the demo ends with: Kubecost's Allocations view of the marts, and an HTML report.

    summary = allocations(client, "kubecost_marts")
    print(summary_text(summary))
    write_html(summary, Path("report.html"))

Read from the marts only (`k8s_expenses_daily`, `k8s_costs_daily`, `k8s_resources`). Money is
always shown with its currency and only added up within one currency (every mart row carries
its cluster's). Definitions, as printed:

- namespace cost: allocated cost (idle excluded), summed over the days covered;
- efficiency: Kubecost's cost-weighted efficiency of the namespace's containers,
  (CPU efficiency x CPU cost + RAM efficiency x RAM cost) / (CPU cost + RAM cost), each
  summed over containers and days (a term counts only where Kubecost reports its efficiency);
- monthly run rate: the cost divided by the days covered of its cluster, x 730 h / 24 h
  (Kubecost's month, as docs/analyst-queries.md);
- savings: `k8s_resources.monthly_saving` of pods (requests lowered to the recommendation).

The HTML report is one self-contained file: inline SVG charts and CSS, no script, no link,
nothing fetched.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

RUN_RATE_DAYS = 730 / 24  # Kubecost's month: 730 hours
TOP_NAMESPACES = 10
TOP_SAVINGS = 5
CLUSTER_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")
NAMESPACE_COLOUR = "#ff7f0e"
ALLOCATED_COLOUR, IDLE_COLOUR = "#17becf", "#7f7f7f"


@dataclass(frozen=True)
class Day:
    date: date
    cluster: str
    currency: str
    allocated: float
    idle: float


@dataclass(frozen=True)
class Namespace:
    cluster: str
    namespace: str
    currency: str
    cost: float
    efficiency: float | None  # None: Kubecost reported no CPU or RAM efficiency
    run_rate: float  # per month (RUN_RATE_DAYS days)


@dataclass(frozen=True)
class Saving:
    cluster: str
    pod: str  # <namespace>/<pod>
    currency: str
    monthly_saving: float
    cpu_request_cores: float
    recommended_cpu_cores: float
    ram_request_bytes: float
    recommended_ram_bytes: float


@dataclass(frozen=True)
class Summary:
    days: list[Day]  # by date, then cluster
    covered_days: dict[str, int]  # cluster -> days with cost
    namespaces: list[Namespace]  # by cost, highest first
    savings: list[Saving]  # the TOP_SAVINGS largest
    savings_total: dict[str, float]  # currency -> all pods' monthly saving

    @property
    def currencies(self) -> list[str]:
        return sorted({day.currency for day in self.days})

    @property
    def period(self) -> tuple[date, date]:
        return self.days[0].date, self.days[-1].date


def allocations(client: Any, marts: str) -> Summary:
    """The Summary of the marts in database `marts`, through a clickhouse-connect client."""

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return client.query(sql, parameters={"db": marts}).result_rows

    days = [
        Day(*row)
        for row in rows(
            "select date, cluster, currency, sum(total_cost), sum(idle_cost) "
            "from {db:Identifier}.k8s_expenses_daily where level = 'cluster' "
            "group by date, cluster, currency order by date, cluster, currency"
        )
    ]
    covered = {
        cluster: len({d.date for d in days if d.cluster == cluster})
        for cluster in {d.cluster for d in days}
    }
    weighted = {
        (cluster, namespace): (numerator / denominator if denominator else None)
        for cluster, namespace, numerator, denominator in rows(
            "select cluster, namespace, "
            "sum(coalesce(cpu_efficiency * cpu_cost, 0) + coalesce(ram_efficiency * ram_cost, 0)), "
            "sum(if(cpu_efficiency is null, 0, cpu_cost) "
            "+ if(ram_efficiency is null, 0, ram_cost)) "
            "from {db:Identifier}.k8s_costs_daily where not is_idle group by cluster, namespace"
        )
    }
    namespaces = [
        Namespace(
            cluster,
            namespace,
            currency,
            cost,
            weighted.get((cluster, namespace)),
            cost / covered[cluster] * RUN_RATE_DAYS,
        )
        for cluster, namespace, currency, cost in rows(
            "select cluster, resource_key, currency, sum(total_cost) as cost "
            "from {db:Identifier}.k8s_expenses_daily where level = 'namespace' "
            "group by cluster, resource_key, currency order by cost desc, cluster, resource_key"
        )
    ]
    savings = [
        Saving(*row)
        for row in rows(
            "select cluster, resource_key, currency, monthly_saving, cpu_request_cores, "
            "recommended_cpu_cores, ram_request_bytes, recommended_ram_bytes "
            "from {db:Identifier}.k8s_resources where level = 'pod' and monthly_saving > 0 "
            f"order by monthly_saving desc, cluster, resource_key limit {TOP_SAVINGS}"
        )
    ]
    savings_total = dict(
        rows(
            "select currency, sum(monthly_saving) from {db:Identifier}.k8s_resources "
            "where level = 'pod' group by currency order by currency"
        )
    )
    return Summary(days, covered, namespaces, savings, savings_total)


def money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency or '(no currency)'}"


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def summary_text(summary: Summary) -> str:
    """The Allocations view and the top savings, as the demo prints them."""
    if not summary.days:
        return "Allocations by namespace: the marts hold no costs."
    first, last = summary.period
    lines = [
        f"Allocations by namespace, {first} .. {last} (as Kubecost's Allocations page):",
        "  cost: allocated cost, idle excluded",
        "  efficiency: (CPU efficiency x CPU cost + RAM efficiency x RAM cost) / (CPU cost + "
        "RAM cost), over the namespace's containers and days",
        "  monthly run rate: average daily cost over the days its cluster has costs for "
        f"({_covered(summary)}) x 730 h / 24 h",
        f"  {'namespace':<46}{'cost':>18}{'efficiency':>12}{'monthly run rate':>22}",
    ]
    for ns in summary.namespaces[:TOP_NAMESPACES]:
        lines.append(
            f"  {ns.cluster + '/' + ns.namespace:<46}{money(ns.cost, ns.currency):>18}"
            f"{percent(ns.efficiency):>12}{money(ns.run_rate, ns.currency):>22}"
        )
    rest = summary.namespaces[TOP_NAMESPACES:]
    for currency in summary.currencies:
        mine = [ns for ns in summary.namespaces if ns.currency == currency]
        others = [ns for ns in rest if ns.currency == currency]
        if others:
            lines.append(
                f"  {f'{len(others)} more namespaces':<46}"
                f"{money(sum(ns.cost for ns in others), currency):>18}{'':>12}"
                f"{money(sum(ns.run_rate for ns in others), currency):>22}"
            )
        lines.append(
            f"  {'total':<46}{money(sum(ns.cost for ns in mine), currency):>18}{'':>12}"
            f"{money(sum(ns.run_rate for ns in mine), currency):>22}"
        )
    lines += [
        "",
        "Top savings from rightsizing (pod requests lowered to the recommendation of "
        "k8s_resources), per month:",
    ]
    for saving in summary.savings:
        lines.append(
            f"  {money(saving.monthly_saving, saving.currency):>18}  "
            f"{saving.cluster}/{saving.pod} (CPU {saving.cpu_request_cores:.2f} -> "
            f"{saving.recommended_cpu_cores:.2f} cores, RAM "
            f"{saving.ram_request_bytes / 2**20:,.0f} -> "
            f"{saving.recommended_ram_bytes / 2**20:,.0f} MiB)"
        )
    for currency, total in summary.savings_total.items():
        lines.append(f"  {money(total, currency):>18}  all pods together")
    return "\n".join(lines)


def _covered(summary: Summary) -> str:
    counts = sorted(set(summary.covered_days.values()))
    return f"{counts[0]} days" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} days"


def write_html(summary: Summary, path: Path) -> None:
    """The report: per currency, cost by day and cluster, top namespaces and idle share."""
    first, last = summary.period if summary.days else ("", "")
    sections = []
    for currency in summary.currencies:
        days = [d for d in summary.days if d.currency == currency]
        namespaces = [ns for ns in summary.namespaces if ns.currency == currency]
        sections.append(
            f"<h2>Costs in {_e(currency or '(no currency)')}</h2>"
            "<h3>Cost by day and cluster (allocated + idle)</h3>"
            + _cost_by_day(days, currency)
            + f"<h3>Top {TOP_NAMESPACES} namespaces (allocated cost)</h3>"
            + _top_namespaces(namespaces[:TOP_NAMESPACES], currency)
            + "<h3>Idle share by cluster (idle / (allocated + idle))</h3>"
            + _idle_share(days)
        )
    page = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<title>Kubernetes costs</title><style>"
        "body{font-family:sans-serif;margin:16px;color:#222;background:#fff}"
        "table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}svg{display:block}"
        "</style></head><body>"
        f"<h1>Kubernetes costs {first} .. {last}</h1>"
        + "".join(sections)
        + "<h2>Allocations by namespace</h2><pre>"
        + _e(summary_text(summary))
        + "</pre></body></html>\n"
    )
    path.write_text(page, encoding="utf-8")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _rect(x: float, y: float, width: float, height: float, colour: str, title: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" height="{max(height, 0):.1f}" '
        f'fill="{colour}"><title>{_e(title)}</title></rect>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}">{_e(text)}</text>'


def _svg(width: int, height: int, parts: list[str]) -> str:
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'shape-rendering="crispEdges">{"".join(parts)}</svg>'
    )


def _cost_by_day(days: list[Day], currency: str) -> str:
    """Stacked bars: one per day, a segment per cluster; a legend of clusters."""
    width, height, left, top, bottom = 860, 300, 70, 10, 40
    clusters = sorted({d.cluster for d in days})
    colour = {c: CLUSTER_COLOURS[i % len(CLUSTER_COLOURS)] for i, c in enumerate(clusters)}
    by_date: dict[date, list[Day]] = defaultdict(list)
    for day in days:
        by_date[day.date].append(day)
    peak = max(sum(d.allocated + d.idle for d in ds) for ds in by_date.values()) or 1.0
    plot = height - top - bottom
    step = (width - left - 10) / len(by_date)
    parts = []
    for f in (0, 0.25, 0.5, 0.75, 1):  # gridlines, labelled in the currency
        y = top + plot - plot * f
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(_text(left - 6, y + 4, f"{peak * f:,.0f} {currency}", "end"))
    for i, (when, rows) in enumerate(sorted(by_date.items())):
        x, base = left + i * step + step * 0.15, float(top + plot)
        for row in sorted(rows, key=lambda r: r.cluster):
            size = (row.allocated + row.idle) / peak * plot
            base -= size
            label = f"{when} {row.cluster}: {money(row.allocated + row.idle, currency)}"
            parts.append(_rect(x, base, step * 0.7, size, colour[row.cluster], label))
        parts.append(_text(x + step * 0.35, height - bottom + 14, when.strftime("%m-%d"), "middle"))
    for i, cluster in enumerate(clusters):
        x = left + i * 200
        parts.append(_rect(x, height - 16, 10, 10, colour[cluster], cluster))
        parts.append(_text(x + 14, height - 7, cluster))
    return _svg(width, height, parts)


def _top_namespaces(namespaces: list[Namespace], currency: str) -> str:
    """Horizontal bars, longest first, labelled with the namespace and its cost."""
    width, row, left = 860, 22, 300
    peak = max((ns.cost for ns in namespaces), default=0) or 1.0
    parts = []
    for i, ns in enumerate(namespaces):
        y = i * row + 4
        name = f"{ns.cluster}/{ns.namespace}"
        size = ns.cost / peak * (width - left - 110)
        parts.append(_text(left - 6, y + 12, name, "end"))
        parts.append(
            _rect(left, y, size, row - 6, NAMESPACE_COLOUR, f"{name}: {money(ns.cost, currency)}")
        )
        parts.append(_text(left + size + 6, y + 12, money(ns.cost, currency)))
    return _svg(width, len(namespaces) * row + 8, parts)


def _idle_share(days: list[Day]) -> str:
    """One 100% bar per cluster: allocated, then idle, with the idle share written after."""
    width, row, left, span = 860, 26, 200, 520
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for day in days:
        totals[day.cluster][0] += day.allocated
        totals[day.cluster][1] += day.idle
    parts = []
    for i, (cluster, (allocated, idle)) in enumerate(sorted(totals.items())):
        y, share = i * row + 4, idle / ((allocated + idle) or 1.0)
        parts.append(_text(left - 6, y + 13, cluster, "end"))
        parts.append(_rect(left, y, span * (1 - share), row - 8, ALLOCATED_COLOUR, "allocated"))
        parts.append(
            _rect(left + span * (1 - share), y, span * share, row - 8, IDLE_COLOUR, "idle")
        )
        parts.append(_text(left + span + 8, y + 13, f"idle {percent(share)}"))
    y = len(totals) * row + 6
    parts += [
        _rect(left, y, 10, 10, ALLOCATED_COLOUR, "allocated"),
        _text(left + 14, y + 9, "allocated"),
        _rect(left + 100, y, 10, 10, IDLE_COLOUR, "idle"),
        _text(left + 114, y + 9, "idle"),
    ]
    return _svg(width, y + 16, parts)
