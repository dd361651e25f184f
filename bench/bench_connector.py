"""Benchmark: `source-kubecost read` against the real opencost-parquet-exporter, same stub.

One day of 50,000 containers (~89 MB of Kubecost 2.x JSON) is served by a stub HTTP server in
its own process. Alternating, in pairs:

  * `source-kubecost read` (the console script: day workers, direct output) for one day, and
    for a backfill of `--days` days;
  * the opencost-parquet-exporter, its own code from ../shared/peers/ (Apache-2.0), imported
    at run time and never copied: its `main()` (`get_config`, `request_data`,
    `process_result`, `save_result` to a local parquet file), one process per day as its
    CronJob runs it. It runs in its own environment (`make .venv-peer`: its dependencies,
    pandas 2.x as ours).

Each run is a whole process (start-up and imports included): wall seconds, CPU seconds (user +
sys of the process and its children), peak RSS summed over the process tree, and records/s.
The ratio is taken per pair (records/s of ours over the exporter's); the table gives the
median and the spread (min-max) over the pairs, and the load average before and after.

    .venv/bin/python bench/bench_connector.py [--containers 50000] [--days 7] [--pairs 5]
        [--backfill-pairs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "peers" / "opencost-parquet-exporter" / "src"
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
FIRST = date(2024, 5, 1)
_NUMBERS = (
    "cpuCores",
    "cpuCoreRequestAverage",
    "cpuCoreUsageAverage",
    "cpuCoreHours",
    "ramBytes",
    "ramByteRequestAverage",
    "ramByteUsageAverage",
    "ramByteHours",
    "networkTransferBytes",
    "networkReceiveBytes",
    "networkCost",
    "networkCrossZoneCost",
    "networkCrossRegionCost",
    "networkInternetCost",
    "pvBytes",
    "pvByteHours",
    "pvCost",
    "cpuEfficiency",
    "ramEfficiency",
    "totalEfficiency",
    "gpuRequestAverage",
    "gpuUsageAverage",
)


def write_day(path: Path, containers: int, seed: int = 7) -> int:
    """A Kubecost 2.x container-level allocation day, streamed to `path`."""
    rng = random.Random(seed)
    with path.open("w") as out:
        out.write('{"code":200,"status":"success","data":[{')
        for i in range(containers):
            cluster, node, ns = f"c{i % 3}", f"node-{i % 400}", f"ns-{i % 120}"
            ctl, pod, ctr = f"app-{i % 2000}", f"app-{i % 2000}-{i}", f"ctr-{i % 4}"
            name = f"{cluster}/{node}/{ns}/deployment/deployment:{ctl}/{pod}/{ctr}"
            cpu, ram = rng.random(), rng.random()
            record = {
                "name": name,
                "properties": {
                    "cluster": cluster,
                    "node": node,
                    "namespace": ns,
                    "controllerKind": "deployment",
                    "controller": ctl,
                    "pod": pod,
                    "container": ctr,
                    "services": [f"{ctl}-svc"],
                    "providerID": f"i-{i:017x}",
                    "labels": {"app": ctl, "team": f"team-{i % 12}", "env": "prod"},
                    "namespaceLabels": {"owner": f"team-{i % 12}"},
                },
                "window": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z"},
                "start": "2024-05-01T00:00:00Z",
                "end": "2024-05-02T00:00:00Z",
                "minutes": 1440,
                **{k: round(rng.random() * 3, 5) for k in _NUMBERS},
                "cpuCost": round(cpu, 5),
                "cpuCostAdjustment": round(-cpu / 10, 5),
                "cpuCostIdle": 0,
                "gpuCount": 0,
                "gpuHours": 0,
                "gpuCost": 0,
                "gpuCostAdjustment": 0,
                "gpuCostIdle": 0,
                "gpuEfficiency": 0,
                "ramCost": round(ram, 5),
                "ramCostAdjustment": round(-ram / 10, 5),
                "ramCostIdle": 0,
                "pvCostAdjustment": 0,
                "networkCostAdjustment": 0,
                "loadBalancerCost": 0,
                "loadBalancerCostAdjustment": 0,
                "sharedCost": 0,
                "externalCost": 0,
                "totalCost": round(cpu * 0.9 + ram * 0.9, 5),
                "pvs": None,
                "lbAllocations": None,
                "proportionalAssetResourceCosts": {},
                "sharedCostBreakdown": {},
            }
            out.write(("," if i else "") + json.dumps(name) + ":" + json.dumps(record))
        out.write("}]}")
    return path.stat().st_size


def _serve(payload: Path, port: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    """The stub: every allocation query gets the day; anything else a small cluster info."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if "/allocation" in self.path:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(payload.stat().st_size))
                self.end_headers()
                with payload.open("rb") as body:
                    while chunk := body.read(1 << 20):
                        self.wfile.write(chunk)
            else:
                body = b'{"code":200,"data":{"id":"c0","name":"bench"}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.put(server.server_address[1])
    server.serve_forever()


@dataclass
class Run:
    records: int
    wall: float
    cpu: float
    rss: float  # MB, peak summed over the process tree

    @property
    def rate(self) -> float:
        return self.records / self.wall


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[Run, bytes]:
    """One process: its wall and CPU seconds, peak RSS of its tree, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    peak = 0
    stop = threading.Event()
    tree = psutil.Process(proc.pid)

    def poll() -> None:
        nonlocal peak
        while not stop.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, sum(p.memory_info().rss for p in [tree, *tree.children(True)]))
            time.sleep(0.02)

    threading.Thread(target=poll, daemon=True).start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    wall = time.perf_counter() - start
    stop.set()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        raise SystemExit(f"{command[:3]} failed with exit code {proc.returncode}")
    return Run(0, wall, cpu, peak / 2**20), out


def connector(url: str, days: int, workdir: Path) -> Run:
    config = {
        "url": url,
        "flavour": "kubecost",
        "start_date": FIRST.isoformat(),
        "end_date": (FIRST + timedelta(days=days - 1)).isoformat(),
        "lookback_days": 0,
    }
    (workdir / "config.json").write_text(json.dumps(config))
    stream = {"name": "allocations", "json_schema": {}, "supported_sync_modes": ["incremental"]}
    catalog = {
        "streams": [
            {"stream": stream, "sync_mode": "incremental", "destination_sync_mode": "append"}
        ]
    }
    (workdir / "catalog.json").write_text(json.dumps(catalog))
    script = str(Path(sys.executable).parent / "source-kubecost")
    args = ["read", "--config", str(workdir / "config.json")]
    run, out = measure([script, *args, "--catalog", str(workdir / "catalog.json")])
    run.records = sum(line.startswith(b'{"type":"RECORD"') for line in out.splitlines())
    return run


PEER_MAIN = (
    "import sys; sys.path.insert(0, sys.argv[1]); import opencost_parquet_exporter as e; e.main()"
)


def exporter(port: int, days: int, workdir: Path) -> Run:
    """The exporter's `main()`, one process per day (its CronJob), into local parquet files."""
    import pyarrow.parquet as pq

    total = Run(0, 0.0, 0.0, 0.0)
    for n in range(days):
        day = FIRST + timedelta(days=n)
        prefix = workdir / "parquet"
        env = {
            **os.environ,
            "OPENCOST_PARQUET_SVC_HOSTNAME": "127.0.0.1",
            "OPENCOST_PARQUET_SVC_PORT": str(port),
            "OPENCOST_PARQUET_WINDOW_START": f"{day}T00:00:00Z",
            "OPENCOST_PARQUET_WINDOW_END": f"{day + timedelta(days=1)}T00:00:00Z",
            "OPENCOST_PARQUET_FILE_KEY_PREFIX": str(prefix),
            "OPENCOST_PARQUET_STORAGE_BACKEND": "aws",
            "OPENCOST_PARQUET_S3_BUCKET": "",  # an empty bucket: a local file
        }
        run, _ = measure([str(PEER_PYTHON), "-c", PEER_MAIN, str(PEER)], env)
        written = prefix / f"year={day.year}/month={day.month}/day={day.day}/k8s_opencost.parquet"
        run.records = pq.ParquetFile(written).metadata.num_rows
        written.unlink()
        total = Run(
            total.records + run.records,
            total.wall + run.wall,
            total.cpu + run.cpu,
            max(total.rss, run.rss),
        )
    return total


def _spread(values: list[float], fmt: str) -> str:
    low, middle, high = (
        format(v, fmt) for v in (min(values), statistics.median(values), max(values))
    )
    return f"{middle} ({low}-{high})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=50000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=5, help="alternating one-day pairs")
    parser.add_argument("--backfill-pairs", type=int, default=3, help="alternating backfill pairs")
    args = parser.parse_args()
    if not PEER_PYTHON.exists():
        raise SystemExit("The exporter's environment is missing: run `make .venv-peer` first.")
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        payload = workdir / "day.json"
        size = write_day(payload, args.containers)
        context = multiprocessing.get_context("fork")
        ports = context.SimpleQueue()
        server = context.Process(target=_serve, args=(payload, ports), daemon=True)
        server.start()
        port = ports.get()
        url = f"http://127.0.0.1:{port}"
        rows = []
        for days, pairs in ((1, args.pairs), (args.days, args.backfill_pairs)):
            ours, theirs = [], []
            for pair in range(pairs):  # alternate who goes first
                order = (connector, exporter) if pair % 2 == 0 else (exporter, connector)
                for side in order:
                    if side is connector:
                        ours.append(connector(url, days, workdir))
                    else:
                        theirs.append(exporter(port, days, workdir))
            rows.append((days, ours, theirs))
        server.kill()
        loads.append(os.getloadavg()[0])
    lines = [
        "## source-kubecost against the opencost-parquet-exporter",
        "",
        f"`.venv/bin/python bench/bench_connector.py --containers {args.containers} "
        f"--days {args.days} --pairs {args.pairs} --backfill-pairs {args.backfill_pairs}` on "
        f"{psutil.cpu_count()} CPUs; one day = {args.containers:,} containers, "
        f"{size / 1e6:.1f} MB of JSON from a stub server in its own process. Whole processes, "
        "start-up included; the exporter runs once per day (its CronJob). Median (min-max) "
        f"over the pairs. Load average {loads[0]:.1f} before, {loads[1]:.1f} after.",
        "",
        "| run | pairs | records | wall s | CPU s | records/s | peak RSS MB | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for days, ours, theirs in rows:
        ratios = [a.rate / b.rate for a, b in zip(ours, theirs, strict=True)]
        for label, runs in (("source-kubecost read", ours), ("opencost-parquet-exporter", theirs)):
            lines.append(
                f"| {label}, {days} day(s) | {len(runs)} | {runs[0].records:,} "
                f"| {_spread([r.wall for r in runs], '.1f')} "
                f"| {_spread([r.cpu for r in runs], '.1f')} "
                f"| {_spread([r.rate for r in runs], ',.0f')} "
                f"| {_spread([r.rss for r in runs], '.0f')} "
                f"| {_spread(ratios, '.2f') + 'x' if runs is ours else ''} |"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
