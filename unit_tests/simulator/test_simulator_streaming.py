"""A container-level day is streamed: the server never holds the whole body, and the
streamed body is the same JSON as an aggregated (held) one."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from urllib.parse import urlencode

import requests
from simulator_helpers import CONTAINER_AGG, DAY, NOW, WINDOW

from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer

READ_AND_COUNT = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1]) as answer:
    size = 0
    while chunk := answer.read(65536):
        size += len(chunk)
print(size, answer.headers.get("Transfer-Encoding"))
"""


def test_given_a_container_day_then_peak_memory_stays_far_below_the_body_size():
    fleet = Fleet(
        FleetSpec(seed=5, clusters=2, namespaces_per_cluster=10, containers=1500), now=NOW
    )
    with SimulatorServer(fleet, flavour="kubecost1") as server:
        url = server.api_url + "/allocation"
        params = {"window": WINDOW, "accumulate": "true"}
        requests.get(url, params={**params, "aggregate": "cluster"}).raise_for_status()  # warm up
        # The client reads in another process, so only the serving side is traced here.
        tracemalloc.start()
        reader = subprocess.run(
            [sys.executable, "-c", READ_AND_COUNT, f"{url}?{urlencode(params)}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert reader.returncode == 0, reader.stderr
    read, encoding = reader.stdout.split()
    size = int(read)
    assert encoding == "chunked"
    containers = sum(1 for a in fleet.allocations(DAY) if a.kind == "container")
    assert containers > 1200 and size > 2000 * containers  # a few MB of JSON
    assert peak < size / 4, (peak, size)


def test_given_a_streamed_day_then_it_equals_the_same_rows_merged_in_memory(servers):
    server = servers("kubecost2")
    params = {"window": WINDOW, "aggregate": CONTAINER_AGG, "splitIdle": "true"}
    streamed = requests.get(server.api_url + "/allocation", params=params).json()["data"][0]
    # paging holds and sorts the whole set; with a limit above the row count it is all of it
    held = requests.get(
        server.api_url + "/allocation", params={**params, "offset": "0", "limit": "100000"}
    ).json()["data"][0]
    assert json.dumps(streamed, sort_keys=True) == json.dumps(held, sort_keys=True)
    assert list(held) == sorted(held)  # held sets come out sorted, as Go sorts map keys
