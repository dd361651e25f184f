"""Benchmark of the landing: allocation records per second into embedded ClickHouse (chDB).

Writes N synthetic RECORD lines shaped by the connector's real allocations schema (every
property filled, ~2.4 KB of JSON each), one STATE per day, then runs `landing.sync` with a
replaying source process (so the number measures the landing: parsing, coercion, batched
INSERTs, state commits) into a fresh chDB directory. Reports records per second and the peak
RSS of this process (the chDB engine runs in it), as a Markdown section (`python -m bench`
collects it into bench/results.md).

    .venv/bin/python bench/bench_landing.py [--records 200000] [--days 4] [--batch-rows N]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def value(name: str, prop: dict, i: int, rng: random.Random) -> object:
    kinds = prop.get("type", "string")
    kind = next((k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null"), "")
    if prop.get("format") == "date-time":
        return None  # filled by the caller
    if kind == "number":
        return round(rng.random() * 10, 6)
    if kind == "integer":
        return rng.randrange(10_000)
    if kind == "boolean":
        return False
    if kind == "object":
        return {"app": f"app-{i % 2000}", "team": f"team-{i % 12}", "env": "prod"}
    if kind == "array":
        return [f"app-{i % 2000}-svc"]
    return f"{name}-{i % 5000}"


def write_records(path: Path, records: int, days: int) -> dict:
    schema = json.loads((ROOT / "source_kubecost/schemas/allocations.json").read_text())
    rng = random.Random(7)
    per_day = records // days
    with path.open("w") as out:
        for day in range(days):
            start = f"2026-01-{day + 1:02d}T00:00:00Z"
            for i in range(per_day):
                data = {k: value(k, p, i, rng) for k, p in schema["properties"].items()}
                data |= {"window_start": start, "window_end": start.replace("T00", "T23")}
                data |= {"start": start, "end": start, "granularity": "container"}
                data |= {"idle_policy": "separate", "name": f"c/n/ns/pod-{i}/ctr"}
                record = {"stream": "allocations", "data": data, "emitted_at": 1767225600000}
                out.write(json.dumps({"type": "RECORD", "record": record}) + "\n")
            state = {
                "stream_descriptor": {"name": "allocations"},
                "stream_state": {"window_start": start},
            }
            out.write(
                json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": state}}) + "\n"
            )
    return schema


def replay(catalog_file: str, records_file: str, verb: str) -> int:
    """The source process: `discover` prints the catalog, `read` copies the records file."""
    if verb == "discover":
        print(Path(catalog_file).read_text())
    else:
        with open(records_file, "rb") as records:
            shutil.copyfileobj(records, sys.stdout.buffer, 1 << 20)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--batch-rows", type=int, default=None)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from kubecost_pipeline.landing import sync
    from kubecost_pipeline.landing.settings import BATCH_ROWS

    with tempfile.TemporaryDirectory(prefix="bench-landing-") as tmp:
        records_file, catalog_file = Path(tmp) / "records.jsonl", Path(tmp) / "catalog.json"
        schema = write_records(records_file, args.records, args.days)
        stream = {
            "name": "allocations",
            "json_schema": schema,
            "supported_sync_modes": ["full_refresh", "incremental"],
            "source_defined_cursor": True,
            "default_cursor_field": ["window_start"],
            "source_defined_primary_key": [
                ["window_start"],
                ["granularity"],
                ["idle_policy"],
                ["name"],
            ],
        }
        catalog_file.write_text(json.dumps({"type": "CATALOG", "catalog": {"streams": [stream]}}))
        size_mb = records_file.stat().st_size / 1e6
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        batch_rows = args.batch_rows or BATCH_ROWS
        started = time.perf_counter()
        result = sync(
            {},
            f"chdb://{tmp}/chdb",
            "kubecost",
            source_command=[
                sys.executable,
                __file__,
                "--replay",
                str(catalog_file),
                str(records_file),
            ],
            batch_rows=batch_rows,
        )
        took = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    landed = result.streams["allocations"].records
    assert landed == args.days * (args.records // args.days), landed
    section = "\n".join(
        [
            "## bench_landing",
            "",
            f"`.venv/bin/python bench/bench_landing.py --records {args.records} --days "
            f"{args.days}` ({len(schema['properties'])} columns, {size_mb:.0f} MB of RECORD "
            f"lines, batches of {batch_rows} rows, embedded chDB):",
            "",
            "| records | seconds | records/s | MB/s | peak RSS (MB) | RSS before sync (MB) |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {landed} | {took:.1f} | {landed / took:,.0f} | {size_mb / took:.1f} "
            f"| {peak:.0f} | {rss_before:.0f} |",
        ]
    )
    print(section)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--replay"]:
        sys.exit(replay(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.exit(main())
