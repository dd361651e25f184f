"""The streams' catalog entries (what `discover` returns), without importing the CDK.

The streams (streams.py) take their primary keys from here, and the landing builds the
catalog of this installed connector in-process (`catalog()`) instead of starting a second
process that imports the CDK (about 1.3 CPU-seconds) only to run `discover`. A test checks
that `catalog()` equals the CDK's `discover` output.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from source_kubecost.days import CURSOR

# stream -> (primary key, incremental by day)
STREAMS: dict[str, tuple[list[str], bool]] = {
    "allocations": ([CURSOR, "granularity", "idle_policy", "name"], True),
    "assets": ([CURSOR, "key"], True),
    "clusters": (["id"], False),
}


def json_schema(stream: str) -> dict[str, Any]:
    text = resources.files("source_kubecost").joinpath(f"schemas/{stream}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def catalog() -> dict[str, Any]:
    """The AirbyteCatalog `discover` prints (its `catalog` object), for any valid config."""
    streams = []
    for name, (primary_key, incremental) in STREAMS.items():
        stream: dict[str, Any] = {
            "name": name,
            "json_schema": json_schema(name),
            "supported_sync_modes": ["full_refresh", "incremental"]
            if incremental
            else ["full_refresh"],
        }
        if incremental:
            stream |= {"source_defined_cursor": True, "default_cursor_field": [CURSOR]}
        stream |= {
            "source_defined_primary_key": [[field] for field in primary_key],
            "is_resumable": incremental,
        }
        streams.append(stream)
    return {"streams": streams}
