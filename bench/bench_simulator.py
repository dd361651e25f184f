"""Serve one 50,000-container day from the simulator: MB/s served and the server's peak RSS.

The server runs as its own process (`kubecost-pipeline simulate`), so its memory is measured
apart from the client's; the client streams each body and throws it away.
Run: `.venv/bin/python bench/bench_simulator.py` (or `python -m bench simulator`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import psutil
import requests

SEED, CLUSTERS, NAMESPACES, CONTAINERS = 7, 3, 30, 50_000
DAY = date(2026, 11, 5)
NOW = "2026-11-20T12:00:00Z"
WINDOW = f"{DAY}T00:00:00Z,{DAY.replace(day=DAY.day + 1)}T00:00:00Z"
CASES = [
    ("kubecost1", "container key (no aggregate), idle", {}),
    (
        "kubecost2",
        "7-level container aggregate",
        {"aggregate": "cluster,node,namespace,controllerKind,controller,pod,container"},
    ),
    (
        "kubecost1",
        "container key, shareIdle + shareNamespaces (3 passes)",
        {"shareIdle": "true", "shareNamespaces": "kube-system"},
    ),
    ("kubecost19", "container key, %f string floats", {}),
    ("opencost", "container key, includeIdle (one pass: nothing shared)", {"includeIdle": "true"}),
    ("kubecost2", "cluster,namespace aggregate", {"aggregate": "cluster,namespace"}),
]


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def serve(flavour: str) -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable,
        "-m",
        "kubecost_pipeline.cli",
        "simulate",
        "--port",
        "0",
        "--flavour",
        flavour,
        "--seed",
        str(SEED),
        "--clusters",
        str(CLUSTERS),
        "--namespaces-per-cluster",
        str(NAMESPACES),
        "--containers",
        str(CONTAINERS),
        "--start",
        "2026-11-01",
        "--days",
        "30",
        "--now",
        NOW,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    return proc, line.split(" at ")[1].split()[0] + ("" if flavour == "opencost" else "/model")


def main() -> None:
    from kubecost_pipeline.simulator import Fleet, FleetSpec

    spec = FleetSpec(
        seed=SEED, clusters=CLUSTERS, namespaces_per_cluster=NAMESPACES, containers=CONTAINERS
    )
    fleet = Fleet(spec, now=datetime(2026, 11, 20, 12, tzinfo=UTC))
    containers = sum(1 for a in fleet.allocations(DAY) if a.kind == "container")
    nodes = sum(len(n) for n in fleet.structure.nodes.values())
    rows = [
        "## bench_simulator",
        "",
        f"One day ({DAY}) of a fleet with {containers:,} containers, {nodes:,} nodes, "
        f"{CLUSTERS} clusters (seed {SEED}); `window` = that day, `accumulate=true`.",
        "",
        "Wall-clock MB/s depends on what else the machine runs; server CPU seconds do not.",
        "",
        "| flavour | query | body MB | seconds | MB/s | server CPU s | MB per CPU s "
        "| server RSS before, MiB | server peak RSS, MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for flavour, label, params in CASES:
        proc, url = serve(flavour)
        try:
            before = status_kib(proc.pid, "VmRSS")
            server = psutil.Process(proc.pid)
            cpu0 = sum(server.cpu_times()[:2])
            started = time.perf_counter()
            size = 0
            with requests.get(
                f"{url}/allocation",
                params={"window": WINDOW, "accumulate": "true", **params},
                stream=True,
            ) as r:
                r.raise_for_status()
                for chunk in r.iter_content(1 << 20):
                    size += len(chunk)
            took = time.perf_counter() - started
            cpu = sum(server.cpu_times()[:2]) - cpu0
            peak = status_kib(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait()
        rows.append(
            f"| {flavour} | {label} | {size / 1e6:.1f} | {took:.1f} | "
            f"{size / 1e6 / took:.1f} | {cpu:.1f} | {size / 1e6 / cpu:.1f} | "
            f"{before / 1024:.0f} | {peak / 1024:.0f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
