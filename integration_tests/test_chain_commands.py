"""The README's main job (`kubecost-pipeline demo`) and `run`'s stop-at-first-failure rule,
each as a real process with its own embedded ClickHouse directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pymysql
import pytest

from kubecost_pipeline.post_sync import sandbox

pytestmark = pytest.mark.slow  # dbt builds, real processes: `make test` only

CLI = [sys.executable, "-m", "kubecost_pipeline.cli"]


def sql(workdir: Path, query: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "sql", query, *options, "--clickhouse-url", f"chdb://{workdir / 'chdb'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def raw_rows(workdir: Path, query: str) -> list[dict[str, Any]]:
    done = sql(workdir, query, "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_given_nothing_installed_when_demo_runs_then_it_reports_reconciled_costs(
    tmp_path: Path,
) -> None:
    """One demo as a real process (a fresh chDB directory), then what it printed and wrote:
    the summary, the Allocations view against the marts' rows, report.html in Chromium."""
    workdir = tmp_path / "demo"
    done = subprocess.run(
        [*CLI, "demo", "--days", "3", "--clusters", "2", "--workdir", str(workdir), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Reconciliation: PASS" in out
    assert "Idle share:" in out
    assert "Top namespaces:" in out
    assert "CloudTuner projection (dry run)" in out
    assert "kubecost-pipeline sql" in out
    # The printed query works on what the demo built.
    query = out.split('kubecost-pipeline sql "', 1)[1].split('"\n', 1)[0]
    rows = sql(workdir, query, "--format", "csv")
    assert rows.returncode == 0, rows.stderr
    assert rows.stdout.splitlines()[0] == "date,resource_key,total_cost"
    assert len(rows.stdout.splitlines()) == 21
    assert out.rstrip().splitlines()[-1].endswith(str(workdir.resolve() / "report.html"))
    check_allocations_view(workdir, out)
    check_report_renders_in_chromium(workdir, tmp_path)  # last: skips where chromium is absent


def check_allocations_view(workdir: Path, out: str) -> None:
    """Cost, efficiency and run rate per namespace, and the top savings, recomputed here from
    the marts' rows (containers of k8s_costs_daily, pods of k8s_resources)."""
    containers = raw_rows(
        workdir,
        "select date, cluster, namespace, is_idle, currency, total_cost, cpu_cost, ram_cost, "
        "cpu_efficiency, ram_efficiency from kubecost_marts.k8s_costs_daily",
    )
    pods = raw_rows(
        workdir,
        "select cluster, resource_key, currency, monthly_saving from kubecost_marts.k8s_resources "
        "where level = 'pod'",
    )
    days: dict[str, set[str]] = defaultdict(set)
    cost: dict[str, float] = defaultdict(float)
    weighted: dict[str, float] = defaultdict(float)
    weights: dict[str, float] = defaultdict(float)
    for row in containers:
        days[row["cluster"]].add(row["date"])
        if row["is_idle"]:
            continue
        key = f"{row['cluster']}/{row['namespace']}"
        cost[key] += row["total_cost"]
        for part in ("cpu", "ram"):
            if row[f"{part}_efficiency"] is not None:
                weighted[key] += row[f"{part}_efficiency"] * row[f"{part}_cost"]
                weights[key] += row[f"{part}_cost"]
    assert {row["currency"] for row in containers + pods} == {"USD"}

    view = out.split("Allocations by namespace", 1)[1].split("Top savings", 1)[0]
    shown = re.findall(r"^  (\S+/\S+) +([\d,.]+) USD +([\d.]+)% +([\d,.]+) USD$", view, flags=re.M)
    assert len(shown) == 10  # the top ten, by cost
    assert [name for name, *_ in shown] == sorted(cost, key=lambda k: -cost[k])[:10]
    for name, shown_cost, efficiency, run_rate in shown:
        cluster = name.split("/", 1)[0]
        assert number(shown_cost) == pytest.approx(cost[name], abs=0.005)
        assert float(efficiency) == pytest.approx(100 * weighted[name] / weights[name], abs=0.05)
        assert number(run_rate) == pytest.approx(
            cost[name] / len(days[cluster]) * 730 / 24, abs=0.005
        )
    (total,) = re.findall(r"^  total +([\d,.]+) USD +([\d,.]+) USD$", view, flags=re.M)
    assert number(total[0]) == pytest.approx(sum(cost.values()), abs=0.005)

    savings = out.split("Top savings", 1)[1]
    top = sorted(pods, key=lambda p: -p["monthly_saving"])[:5]
    shown_savings = re.findall(r"^ +([\d,.]+) USD  (\S+) \(CPU", savings, flags=re.M)
    assert [(f"{p['cluster']}/{p['resource_key']}") for p in top] == [n for _, n in shown_savings]
    for (amount, _), pod in zip(shown_savings, top, strict=True):
        assert number(amount) == pytest.approx(pod["monthly_saving"], abs=0.005)
    (all_pods,) = re.findall(r"^ +([\d,.]+) USD  all pods together$", savings, flags=re.M)
    assert number(all_pods) == pytest.approx(sum(p["monthly_saving"] for p in pods), abs=0.005)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def chromium() -> str:
    """Debian's Chromium; outside CI a test may skip without it, in CI it must be there
    (.ci/run installs it)."""
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run should have installed it")
        pytest.skip("chromium is not installed here (apt-get install chromium)")
    return found


def screenshot(page: Path, shot: Path, width: int, height: int) -> None:
    done = subprocess.run(
        [
            chromium(),
            *("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"),
            *("--force-device-scale-factor=1", f"--user-data-dir={shot.parent / 'profile'}"),
            f"--screenshot={shot}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]


def read_png(path: Path) -> list[list[tuple[int, int, int]]]:
    """The RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes), by
    rows; decoded here with zlib (RFC 2083 filters)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    assert (depth, interlace) == (8, 0) and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride) if kind else ():
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                guess = left
            elif kind == 2:
                guess = up
            elif kind == 3:
                guess = (left + up) // 2
            else:
                p = left + up - corner
                distances = (abs(p - left), abs(p - up), abs(p - corner))
                guess = (left, up, corner)[distances.index(min(distances))]
            line[i] = (line[i] + guess) & 255
        rows.append([tuple(line[x : x + 3]) for x in range(0, stride, channels)])
        previous = line
    return rows


def colour(hex_colour: str) -> tuple[int, int, int]:
    return tuple(bytes.fromhex(hex_colour.removeprefix("#")))  # type: ignore[return-value]


def bars(
    rows: list[list[tuple[int, int, int]]], colours: set[tuple[int, int, int]]
) -> list[list[int]]:
    """Per horizontal band of rows holding any of `colours`: the count of each colour in its
    fullest row, in the order of `colours` sorted."""
    order, found, band = sorted(colours), [], None
    for row in rows:
        counts = [row.count(c) for c in order]
        if any(counts):
            band = counts if band is None or sum(counts) > sum(band) else band
        elif band is not None:
            found.append(band)
            band = None
    return found


def check_report_renders_in_chromium(workdir: Path, tmp_path: Path) -> None:
    """The report opened in a real headless Chromium: the pixels of each chart's colours are
    there, in the proportions of the costs recomputed from the marts' rows."""
    from kubecost_pipeline import demo_report as report

    page = workdir / "report.html"
    text = page.read_text()
    assert "<svg" in text
    assert "://" not in text  # nothing to fetch, no link out
    assert not re.search(r"(?i)\b(src|href)\s*=|url\(|@import|<script|<link|<img|<iframe", text)
    containers = raw_rows(
        workdir,
        "select cluster, namespace, is_idle, total_cost from kubecost_marts.k8s_costs_daily",
    )
    by_cluster: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # allocated, idle
    by_namespace: dict[str, float] = defaultdict(float)
    for row in containers:
        by_cluster[row["cluster"]][row["is_idle"]] += row["total_cost"]
        if not row["is_idle"]:
            by_namespace[f"{row['cluster']}/{row['namespace']}"] += row["total_cost"]
    clusters = sorted(by_cluster)

    screenshot(page, tmp_path / "report.png", 900, 1400)
    pixels = read_png(tmp_path / "report.png")

    # Cost by day and cluster: each cluster's colour covers its share of the stacked bars.
    cluster_colours = [colour(c) for c in report.CLUSTER_COLOURS[: len(clusters)]]
    areas = [sum(row.count(c) for row in pixels) for c in cluster_colours]
    assert min(areas) > 5000, areas
    fleet = sum(sum(costs) for costs in by_cluster.values())
    for cluster, area in zip(clusters, areas, strict=True):
        assert area / sum(areas) == pytest.approx(sum(by_cluster[cluster]) / fleet, abs=0.01)
    # Top namespaces: ten bars, longest first, each as long as its cost says.
    orange = {colour(report.NAMESPACE_COLOUR)}
    lengths = [band[0] for band in bars(pixels, orange)]
    top = sorted(by_namespace.values(), reverse=True)[:10]
    assert len(lengths) == 10 and lengths[0] > 300, lengths
    for length, cost in zip(lengths, top, strict=True):
        assert length == pytest.approx(lengths[0] * cost / top[0], abs=2)
    # Idle share: per cluster, the idle colour's part of the bar is the cluster's idle share.
    allocated, idle = colour(report.ALLOCATED_COLOUR), colour(report.IDLE_COLOUR)
    shares = [band for band in bars(pixels, {allocated, idle}) if sum(band) > 400]
    assert len(shares) == len(clusters), shares
    idle_at = sorted([allocated, idle]).index(idle)
    for cluster, band in zip(clusters, shares, strict=True):
        share = by_cluster[cluster][1] / sum(by_cluster[cluster])
        assert band[idle_at] / sum(band) == pytest.approx(share, abs=0.005)


def test_given_dbt_fails_when_run_then_exit_1_and_cloudtuner_untouched(tmp_path, mysql_url):
    conn = pymysql.connect(
        host="127.0.0.1", user="root", password="", database=mysql_url.rsplit("/", 1)[1]
    )
    sandbox.create_mysql_tables(conn)
    organization = sandbox.seed_organization(conn, accounts=1)
    conn.commit()
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f"""
[clickhouse]
url = "chdb://{tmp_path / "chdb"}"
[landing]
database = "no_such_landing_database"
[mysql]
url = "{mysql_url}"
[mongodb]
uri = "mongodb://127.0.0.1:1/"
[cloudtuner.cluster_accounts]
"prod" = "{organization.account_ids[0]}"
"""
    )
    done = subprocess.run(
        [*CLI, "run", "--config", str(config), "--skip-sync", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1
    assert "dbt failed" in done.stderr
    assert "The CloudTuner projection was not run" in done.stderr
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM discovery_info")
        assert cur.fetchone() == (0,)
    conn.close()
