"""A tiny Airbyte source for landing tests: `discover` and `read`, driven by its config.

Config keys: `days` (UTC dates of the incremental streams, one slice each), `per_day`
(records per stream and day), `kill_after` (SIGKILL itself after that many records, with
stdout flushed, as a crash would), `pause_after` and `pause_file` (after that many records,
write its pid to the file and sleep), `fail` (emit a TRACE ERROR and exit 1 at the end),
`extra_fields` (additional allocation properties, as a newer connector would declare), and
`overrides` (record fields to replace in every allocation).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

TS = {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"}
NUM = {"type": ["null", "number"]}
STR = {"type": ["null", "string"]}


def catalog(config: dict) -> list[dict]:
    allocation_props = {
        "window_start": TS,
        "window_end": TS,
        "granularity": STR,
        "idle_policy": STR,
        "name": STR,
        "cluster": STR,
        "namespace": STR,
        "is_idle": {"type": ["null", "boolean"]},
        "minutes": NUM,
        "cpuCost": NUM,
        "ramCost": NUM,
        "totalCost": NUM,
        "labels": {"type": ["null", "object"]},
        "services": {"type": ["null", "array"], "items": STR},
        **{name: NUM for name in config.get("extra_fields", [])},
    }
    incremental = ["full_refresh", "incremental"]
    return [
        {
            "name": "allocations",
            "json_schema": {"type": "object", "properties": allocation_props},
            "supported_sync_modes": incremental,
            "source_defined_cursor": True,
            "default_cursor_field": ["window_start"],
            "source_defined_primary_key": [
                ["window_start"],
                ["granularity"],
                ["idle_policy"],
                ["name"],
            ],
        },
        {
            "name": "assets",
            "json_schema": {
                "type": "object",
                "properties": {"window_start": TS, "key": STR, "type": STR, "totalCost": NUM},
            },
            "supported_sync_modes": incremental,
            "source_defined_cursor": True,
            "default_cursor_field": ["window_start"],
            "source_defined_primary_key": [["window_start"], ["key"]],
        },
        {
            "name": "clusters",
            "json_schema": {
                "type": "object",
                "properties": {"id": STR, "name": STR, "provider": STR, "currency": STR},
            },
            "supported_sync_modes": ["full_refresh"],
            "source_defined_primary_key": [["id"]],
        },
    ]


def allocation(day: str, i: int, config: dict) -> dict:
    record = {
        "window_start": f"{day}T00:00:00Z",
        "window_end": f"{day}T23:59:59Z",
        "granularity": "pod",
        "idle_policy": "separate",
        "name": f"cluster-one/ns-{i % 3}/pod-{i}",
        "cluster": "cluster-one",
        "namespace": f"ns-{i % 3}",
        "is_idle": False,
        "minutes": 1440,
        "cpuCost": 0.25 * i,
        "ramCost": 0.125,
        "totalCost": 0.25 * i + 0.125,
        "labels": {"app": f"app-{i}"},
        "services": [f"svc-{i}"],
        **{name: 1.5 for name in config.get("extra_fields", [])},
    }
    record.update(config.get("overrides", {}))
    return record


def emit(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")


def read(config: dict, configured: dict, state: list) -> int:
    cursors = {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in state}
    emitted = 0
    for entry in configured["streams"]:
        name = entry["stream"]["name"]
        if name == "clusters":
            emit(record(name, {"id": "c1", "name": "cluster-one", "provider": "GCP"}))
            emit(stream_state(name, {"__ab_no_cursor_state_message": True}))
            continue
        since = cursors.get(name, {}).get("window_start", "")[:10]
        for day in config["days"]:
            if entry["sync_mode"] == "incremental" and day < since:
                continue
            for i in range(config.get("per_day", 3)):
                if name == "allocations":
                    data = allocation(day, i, config)
                else:
                    data = {
                        "window_start": f"{day}T00:00:00Z",
                        "key": f"node-{i}",
                        "type": "Node",
                        "totalCost": i,
                    }
                emit(record(name, data))
                emitted += 1
                if emitted == config.get("kill_after"):
                    sys.stdout.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
                if emitted == config.get("pause_after"):  # hold still while the test acts
                    sys.stdout.flush()
                    with open(config["pause_file"], "w") as f:
                        f.write(str(os.getpid()))
                    time.sleep(120)
            emit(stream_state(name, {"window_start": f"{day}T00:00:00Z"}))
    if config.get("fail"):
        emit(
            {
                "type": "TRACE",
                "trace": {
                    "type": "ERROR",
                    "emitted_at": 0,
                    "error": {"message": "Kubecost said no", "failure_type": "system_error"},
                },
            }
        )
        return 1
    return 0


def record(stream: str, data: dict) -> dict:
    return {
        "type": "RECORD",
        "record": {"stream": stream, "data": data, "emitted_at": 1767225600000},
    }


def stream_state(stream: str, value: dict) -> dict:
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": value},
        },
    }


def main(argv: list[str]) -> int:
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    with open(options["--config"]) as f:
        config = json.load(f)
    if argv[0] == "discover":
        emit({"type": "CATALOG", "catalog": {"streams": catalog(config)}})
        return 0
    with open(options["--catalog"]) as f:
        configured = json.load(f)
    state = []
    if "--state" in options:
        with open(options["--state"]) as f:
            state = json.load(f)
    return read(config, configured, state)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
