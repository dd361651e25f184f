"""Benchmark of the source-kubecost read process on days of 50,000 containers (~85 MB JSON).

Runs, side by side in one process tree:
  * `source-kubecost read` (the real console script) for one day and for seven days;
  * the opencost-parquet-exporter approach on the same day: requests + response.json() +
    pandas.json_normalize + parquet.
It reports records per second (wall clock of the whole process, start-up included) and the
peak RSS of that process, and prints them as a Markdown section (`python -m bench` collects
them into bench/results.md).

    .venv/bin/python bench/bench_connector.py [--containers 50000] [--days 7] [--repeat 3]

One-day runs are short (2-5 s) and noisy: each is run `--repeat` times and the median is
reported (peak memory: the highest of the runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


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
                **{
                    k: round(rng.random() * 3, 5)
                    for k in (
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
                },
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


def serve(payload: Path) -> ThreadingHTTPServer:
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
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(command: list[str], stdout_counter: bool) -> tuple[float, float, float, int]:
    """Wall seconds, peak RSS and peak PSS (MB) of the process tree, RECORD lines on stdout.

    RSS summed over processes counts the pages a forked read-ahead child shares with its
    parent twice; PSS splits shared pages between the processes that map them.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak, peak_pss, records = 0, 0, 0
    ps = psutil.Process(proc.pid)
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak, peak_pss
        while not stop.is_set():
            try:
                tree = [ps, *ps.children(True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree))
                peak_pss = max(peak_pss, sum(p.memory_full_info().pss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.02)

    threading.Thread(target=poll, daemon=True).start()
    assert proc.stdout is not None
    for line in proc.stdout:
        if stdout_counter and line.startswith(b'{"type":"RECORD"'):
            records += 1
        elif not stdout_counter and line.startswith(b"records="):
            records = int(line.split(b"=")[1])
    proc.wait()
    stop.set()
    if proc.returncode:
        raise SystemExit(f"{command[0]} failed with exit code {proc.returncode}")
    return time.perf_counter() - start, peak / 2**20, peak_pss / 2**20, records


def median_of(
    runs: int, command: list[str], stdout_counter: bool
) -> tuple[float, float, float, int]:
    """The median wall time of `runs` runs, with the highest peak memory of them."""
    results = sorted(measure(command, stdout_counter) for _ in range(runs))
    seconds, _, _, records = results[len(results) // 2]
    return seconds, max(r[1] for r in results), max(r[2] for r in results), records


PARQUET_APPROACH = """
import sys, requests, pandas as pd
url, out, days = sys.argv[1], sys.argv[2], int(sys.argv[3])
total = 0
for day in range(1, days + 1):
    window = f"2024-05-{day:02d}T00:00:00Z,2024-05-{day + 1:02d}T00:00:00Z"
    response = requests.get(url, params={"window": window, "aggregate": "namespace,pod,container",
        "accumulate": "true"}, timeout=(15, None))
    data = response.json()["data"]
    rows = [r for s in data for r in s.values()]
    frame = pd.json_normalize(rows)
    frame.to_parquet(f"{out}.{day}")
    total += len(frame)
print(f"records={total}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=50000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each one-day measure")
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        payload = workdir / "day.json"
        size = write_day(payload, args.containers)
        server = serve(payload)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        results = []
        for days, read_ahead in ((1, True), (args.days, True), (args.days, False)):
            first = date(2024, 5, 1)
            config = {
                "url": url,
                "flavour": "kubecost",
                "start_date": first.isoformat(),
                "end_date": (first + timedelta(days=days - 1)).isoformat(),
                "lookback_days": 0,
                "read_ahead": read_ahead,
            }
            (workdir / "config.json").write_text(json.dumps(config))
            catalog = {
                "streams": [
                    {
                        "stream": {
                            "name": "allocations",
                            "json_schema": {},
                            "supported_sync_modes": ["incremental"],
                        },
                        "sync_mode": "incremental",
                        "destination_sync_mode": "append",
                    }
                ]
            }
            (workdir / "catalog.json").write_text(json.dumps(catalog))
            command = [
                str(bindir / "source-kubecost"),
                "read",
                "--config",
                str(workdir / "config.json"),
                "--catalog",
                str(workdir / "catalog.json"),
            ]
            seconds, rss, pss, records = median_of(
                args.repeat if days == 1 else 1, command, stdout_counter=True
            )
            label = f"source-kubecost read, {days} day(s)" + (
                "" if read_ahead else ", read_ahead off (one process)"
            )
            results.append((label, seconds, rss, pss, records))
        script = workdir / "parquet_approach.py"
        script.write_text(PARQUET_APPROACH)
        for days in (1, args.days):
            command = [
                sys.executable,
                str(script),
                f"{url}/allocation",
                str(workdir / "out"),
                str(days),
            ]
            seconds, rss, pss, records = median_of(
                args.repeat if days == 1 else 1, command, stdout_counter=False
            )
            results.append(
                (f"opencost-parquet-exporter approach, {days} day(s)", seconds, rss, pss, records)
            )
        server.shutdown()
    lines = [
        "## bench_connector",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`.venv/bin/python bench/bench_connector.py --containers {args.containers} "
        f"--days {args.days} --repeat {args.repeat}` ({psutil.cpu_count()} CPUs); one day = "
        f"{args.containers} containers, {size / 1e6:.1f} MB of JSON, served from a local HTTP "
        f"server. Wall clock includes process start-up; one-day rows are the median of "
        f"{args.repeat} runs.",
        "",
        "| run | records | seconds | records/s | peak RSS, summed (MB) | peak PSS (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for label, seconds, rss, pss, records in results:
        lines.append(
            f"| {label} | {records} | {seconds:.1f} | {records / seconds:,.0f} | {rss:.0f} "
            f"| {pss:.0f} |"
        )
    rate = {label: records / seconds for label, seconds, _, _, records in results}
    one, many = results[3][0], results[4][0]
    lines += [
        "",
        f"Speed versus the parquet-exporter approach on the same days: 1 day "
        f"{rate[results[0][0]] / rate[one]:.2f}x; {args.days} days "
        f"{rate[results[1][0]] / rate[many]:.2f}x ("
        f"{rate[results[2][0]] / rate[many]:.2f}x with read_ahead off). Load average: "
        f"{os.getloadavg()[0]:.1f} on {psutil.cpu_count()} CPUs.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
