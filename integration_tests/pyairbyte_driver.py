"""Drives `source-kubecost` with PyAirbyte (runs in .venv-pyairbyte, not in ours).

    .venv-pyairbyte/bin/python integration_tests/pyairbyte_driver.py EXECUTABLE CONFIG DIR

Validates a bad config, checks, discovers, reads every stream twice (the second read is
incremental from the state PyAirbyte kept) into a DuckDB cache in DIR, and prints what a
test needs as JSON: the spec's verdicts, the catalog, per read the records and states
PyAirbyte saw, and per stream the cache's columns, rows and non-null counts.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "true")  # no registry, no telemetry
os.environ.setdefault("DO_NOT_TRACK", "1")

import airbyte as ab
from airbyte.caches import DuckDBCache
from airbyte.exceptions import AirbyteConnectorValidationFailedError


def main(executable: str, config_path: str, folder: str) -> dict[str, Any]:
    os.environ["AIRBYTE_LOGGING_ROOT"] = str(Path(folder) / "logs")
    config = json.loads(Path(config_path).read_text())
    source = ab.get_source(
        "source-kubecost", local_executable=executable, config=config, install_if_missing=False
    )
    out: dict[str, Any] = {"bad_configs": {}}
    for name, bad in {
        "no start_date": {k: v for k, v in config.items() if k != "start_date"},
        "lookback_days too big": {**config, "lookback_days": 1000},
        "unknown auth": {**config, "credentials": {"auth_type": "oauth"}},
    }.items():
        try:
            source.validate_config(bad)
            out["bad_configs"][name] = "accepted"
        except AirbyteConnectorValidationFailedError:
            out["bad_configs"][name] = "rejected"
    source.validate_config()
    source.check()  # raises when the connection fails
    out["streams"] = source.get_available_streams()
    out["schemas"] = {s.name: s.json_schema for s in source.discovered_catalog.streams}
    source.select_all_streams()
    cache = DuckDBCache(db_path=Path(folder) / "cache.duckdb")
    out["reads"] = []
    for _ in range(2):
        result = source.read(cache=cache)
        out["reads"].append(
            {
                "processed": result.processed_records,
                "states": {
                    name: state.stream.stream_state.model_dump()
                    for name in result.streams
                    if (state := cache.get_state_provider("source-kubecost").get_stream_state(name))
                },
            }
        )
    out["tables"] = {}
    for name in out["streams"]:
        frame = cache[name].to_pandas()
        out["tables"][name] = {
            "rows": len(frame),
            "columns": list(frame.columns),
            "non_null": {column: int(frame[column].notna().sum()) for column in frame.columns},
            "totalcost_by_day": (
                {
                    str(k)[:10]: float(v)
                    for k, v in frame.groupby("window_start")["totalcost"].sum().items()
                }
                if "totalcost" in frame
                else None
            ),
        }
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:]), default=str))
