"""End-to-end: the `source-kubecost` process against the Kubecost simulator over real HTTP.

Every flavour, injected faults, auth modes, lookback re-reads and an interrupted sync. Costs
are checked against the simulator's ground truth (`fleet.truth`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubecost_pipeline.simulator import Fault, Fleet, FleetSpec, SimulatorServer
from kubecost_pipeline.simulator.engine import AllocationQuery, SpanRows
from kubecost_pipeline.simulator.model import TICKS, Span
from kubecost_pipeline.simulator.truth import level_key

pytestmark = pytest.mark.slow

SOURCE = str(Path(sys.executable).parent / "source-kubecost")
CATALOG = Path(__file__).parent / "configured_catalog.json"
FIRST = datetime.now(UTC).date() - timedelta(days=20)
FLEET = Fleet(
    FleetSpec(
        seed=11, clusters=2, namespaces_per_cluster=3, pods_per_namespace=2, start=FIRST, days=15
    )
)
DAYS = [FIRST + timedelta(days=n) for n in range(3)]


def day(n: int) -> str:
    return (FIRST + timedelta(days=n)).isoformat()


class Run:
    """The messages of one `source-kubecost` run."""

    def __init__(self, verb: str, tmp: Path, config: dict, streams=None, state=None):
        args = [SOURCE, verb, "--config", str(_write(tmp / "config.json", config))]
        if verb == "read":
            catalog = json.loads(CATALOG.read_text())
            catalog["streams"] = [
                s for s in catalog["streams"] if s["stream"]["name"] in (streams or ["allocations"])
            ]
            args += ["--catalog", str(_write(tmp / "catalog.json", catalog))]
            if state is not None:
                args += ["--state", str(_write(tmp / "state.json", state))]
        env = {**os.environ, "SOURCE_KUBECOST_BACKOFF_SECONDS": "0.01"}
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
        self.returncode = done.returncode
        self.messages = [json.loads(line) for line in done.stdout.splitlines() if line]

    def records(self, stream: str = "allocations") -> list[dict[str, Any]]:
        return [
            m["record"]["data"]
            for m in self.messages
            if m["type"] == "RECORD" and m["record"]["stream"] == stream
        ]

    def states(self, stream: str = "allocations") -> list[dict[str, Any]]:
        return [
            m["state"]["stream"]["stream_state"]
            for m in self.messages
            if m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == stream
        ]

    def errors(self) -> list[dict[str, Any]]:
        return [
            m["trace"]["error"]
            for m in self.messages
            if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"
        ]

    def status(self) -> dict[str, Any]:
        [status] = [
            m["connectionStatus"] for m in self.messages if m["type"] == "CONNECTION_STATUS"
        ]
        return status


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _config(server: SimulatorServer, **values: Any) -> dict[str, Any]:
    return {
        "url": server.base_url,
        "start_date": day(0),
        "end_date": day(len(DAYS) - 1),
        "lookback_days": 0,
        **values,
    }


def _namespace_totals(records: list[dict]) -> dict[tuple, float]:
    totals: dict[tuple, float] = defaultdict(float)
    for r in records:
        if not r["is_idle"]:
            totals[(r["window_start"][:10], r["cluster"], r["namespace"])] += r["totalCost"]
    return totals


def _truth(opencost: bool, days: list[date] = DAYS) -> dict[tuple, float]:
    expected: dict[tuple, float] = {}
    for d in days:
        truth = _unreconciled_truth(d) if opencost else FLEET.truth(d, level="namespace")
        for (cluster, namespace), cost in truth.items():
            expected[(d.isoformat(), cluster, namespace)] = cost
    return expected


def _unreconciled_truth(d: date) -> dict[tuple, float]:
    """`fleet.truth` as OpenCost computes it: no reconciliation, no tenancy sharing.

    `fleet.truth` has no reconciliation switch, so this repeats its loop with the
    simulator's engine and a span that carries no adjustments.
    """
    start = datetime.combine(d, datetime.min.time(), UTC)
    query = AllocationQuery(
        start=start,
        end=start + timedelta(days=1),
        idle=True,
        share_idle=False,
        idle_by_node=False,
        share_tenancy=False,
        share_namespaces=frozenset(),
    )
    sums: dict[tuple, int] = defaultdict(int)
    span = FLEET.clip(Span(d, 0.0, 24.0, reconcile=False))
    for row in SpanRows(FLEET, span, query) if span else ():
        if row.kind != "idle":
            sums[level_key(row, "namespace")] += row.total_ticks
    return {key: ticks / TICKS for key, ticks in sums.items()}


def _assert_costs_match_truth(
    records: list[dict], opencost: bool = False, days: list[date] = DAYS
) -> None:
    """Per (day, cluster, namespace) totals equal the simulator's ground truth."""
    got, want = _namespace_totals(records), _truth(opencost, days)
    assert got.keys() == want.keys()
    for key, cost in want.items():
        assert got[key] == pytest.approx(cost, abs=1e-3), key


@pytest.mark.parametrize("flavour", ["kubecost2", "kubecost1", "kubecost19", "opencost"])
def test_given_each_flavour_when_read_then_costs_match_truth_and_state_is_last_day(
    flavour: str, tmp_path: Path
) -> None:
    with SimulatorServer(FLEET, flavour=flavour) as server:
        run = Run("read", tmp_path, _config(server), ["allocations", "assets", "clusters"])
    assert run.returncode == 0, run.errors()
    allocations = run.records()
    _assert_costs_match_truth(allocations, opencost=flavour == "opencost")
    assert all(isinstance(r["totalCost"], float) for r in allocations)  # kubecost19: strings
    assert {r["window_start"][:10] for r in run.records("assets")} == {d.isoformat() for d in DAYS}
    assert {r["type"] for r in run.records("assets")} >= {"Node", "Disk"}
    assert len(run.records("clusters")) == 2
    assert run.states()[-1] == {"window_start": f"{day(2)}T00:00:00Z"}


def test_given_transient_faults_when_read_then_retried_and_nothing_lost(tmp_path: Path) -> None:
    with SimulatorServer(FLEET, flavour="kubecost2") as server:
        for kind in ("503", "reset", "code", "truncated", "429"):
            server.faults.add(Fault(kind=kind, times=1, path="/model/allocation"))
        run = Run("read", tmp_path, _config(server))
    assert run.returncode == 0, run.errors()
    _assert_costs_match_truth(run.records())


def test_given_a_day_that_keeps_timing_out_when_read_then_split_per_cluster(
    tmp_path: Path,
) -> None:
    with SimulatorServer(FLEET, flavour="kubecost2") as server:
        server.faults.add(Fault(kind="timeout", times=2, delay=3, path="/model/allocation"))
        # Days one after another: fault counts are server-wide, parallel days would share them.
        config = _config(server, request_timeout_seconds=1, read_ahead=False)
        run = Run("read", tmp_path, config)
        filters = [q.get("filter", "") for p, q in server.requests if p == "/model/allocation"]
    assert run.returncode == 0, run.errors()
    _assert_costs_match_truth(run.records())
    assert sum(f.startswith('cluster:"') for f in filters) == 2
    idle = [(r["window_start"], r["cluster"]) for r in run.records() if r["is_idle"]]
    assert len(idle) == len(set(idle)) == 2 * len(DAYS)


def test_given_kubecost_before_v2_filters_when_a_day_is_split_then_v1_filters_scope_it(
    tmp_path: Path,
) -> None:
    """Kubecost 1.9x reads `filterClusters`, not `filter`: the split still shrinks requests."""
    with SimulatorServer(FLEET, flavour="kubecost19") as server:
        server.faults.add(Fault(kind="timeout", times=2, delay=3, path="/model/allocation"))
        run = Run("read", tmp_path, _config(server, end_date=day(0), request_timeout_seconds=1))
        scoped = [q for p, q in server.requests if p == "/model/allocation" and "filter" in q]
    assert run.returncode == 0, run.errors()
    _assert_costs_match_truth(run.records(), days=DAYS[:1])
    clusters = {r["cluster"] for r in run.records() if not r["is_idle"]}
    assert sorted(q["filterClusters"] for q in scoped) == sorted(clusters)


def test_given_opencost_ignoring_filters_when_a_day_is_split_then_its_answer_is_the_day(
    tmp_path: Path,
) -> None:
    """OpenCost 1.112 ignores `filter` on /allocation: the first cluster's answer is the whole
    day, so it is kept, and no other cluster is asked for."""
    with SimulatorServer(FLEET, flavour="opencost") as server:
        server.faults.add(Fault(kind="timeout", times=2, delay=3, path="/allocation"))
        run = Run("read", tmp_path, _config(server, end_date=day(0), request_timeout_seconds=1))
        scoped = [q for p, q in server.requests if p == "/allocation" and "filter" in q]
    assert run.returncode == 0, run.errors()
    _assert_costs_match_truth(run.records(), opencost=True, days=DAYS[:1])
    assert len(scoped) == 1
    logs = [m["log"]["message"] for m in run.messages if m["type"] == "LOG"]
    assert any("ignored the filter" in line and "whole day" in line for line in logs)


def test_given_opencost_ignoring_filters_when_a_cluster_times_out_then_error_says_why(
    tmp_path: Path,
) -> None:
    with SimulatorServer(FLEET, flavour="opencost") as server:
        # 1-2: the day times out; 3: the cluster list; 4-5: the first cluster (the whole day)
        server.faults.add(Fault(kind="timeout", times=2, delay=3, path="/allocation"))
        server.faults.add(Fault(kind="timeout", after=1, times=2, delay=3, path="/allocation"))
        run = Run("read", tmp_path, _config(server, end_date=day(0), request_timeout_seconds=1))
    assert run.returncode != 0 and not run.records() and not run.states()
    error = run.errors()[0]
    assert error["failure_type"] == "config_error"
    assert (
        "ignored the filter" in error["message"] and "Raise the request timeout" in error["message"]
    )


def test_given_a_cluster_that_keeps_timing_out_when_read_then_split_per_namespace(
    tmp_path: Path,
) -> None:
    with SimulatorServer(FLEET, flavour="kubecost2") as server:
        # requests 1-2 time out (the full day), 3 passes (the cluster list), 4-5 time out
        # (the first cluster), the rest pass (its namespace list and namespaces, cluster 2)
        server.faults.add(Fault(kind="timeout", times=2, delay=3, path="/model/allocation"))
        server.faults.add(
            Fault(kind="timeout", after=1, times=2, delay=3, path="/model/allocation")
        )
        config = _config(server, end_date=day(0), request_timeout_seconds=1)
        run = Run("read", tmp_path, config)
        filters = [q.get("filter", "") for p, q in server.requests if p == "/model/allocation"]
    assert run.returncode == 0, run.errors()
    assert any("+namespace:" in f for f in filters)
    idle = {r["cluster"] for r in run.records() if r["is_idle"]}
    assert idle == {cluster for _, cluster, _ in _truth(opencost=False)}
    got = _namespace_totals(run.records())
    want = {k: v for k, v in _truth(opencost=False).items() if k[0] == day(0)}
    assert got.keys() == want.keys()
    assert all(got[k] == pytest.approx(v, abs=1e-3) for k, v in want.items())


def test_given_persistent_failure_when_read_then_error_names_day_and_next_sync_resumes(
    tmp_path: Path,
) -> None:
    with SimulatorServer(FLEET, flavour="kubecost2") as server:
        server.faults.add(Fault(kind="500", after=2, path="/model/allocation"))
        first = Run("read", tmp_path, _config(server))
        server.faults.clear()
        state = [
            {
                "type": "STREAM",
                "stream": {
                    "stream_descriptor": {"name": "allocations"},
                    "stream_state": first.states()[-1],
                },
            }
        ]
        second = Run("read", tmp_path, _config(server), state=state)
    assert first.returncode != 0
    assert first.states()[-1] == {"window_start": f"{day(1)}T00:00:00Z"}
    assert f"allocations for {day(2)}" in first.errors()[0]["message"]
    assert {r["window_start"][:10] for r in first.records()} == {day(0), day(1)}
    assert {r["window_start"][:10] for r in second.records()} == {day(2)}
    _assert_costs_match_truth(first.records() + second.records())


def test_given_a_state_when_read_with_lookback_then_lookback_days_reread(tmp_path: Path) -> None:
    with SimulatorServer(FLEET, flavour="opencost") as server:
        first = Run("read", tmp_path, _config(server, end_date=day(2)))
        _assert_costs_match_truth(first.records(), opencost=True)
        state = [
            {
                "type": "STREAM",
                "stream": {
                    "stream_descriptor": {"name": "allocations"},
                    "stream_state": first.states()[-1],
                },
            }
        ]
        server.requests.clear()
        second = Run(
            "read", tmp_path, _config(server, end_date=day(4), lookback_days=2), state=state
        )
        windows = [q["window"][:10] for p, q in server.requests if p == "/allocation"]
    assert sorted(windows) == [day(1), day(2), day(3), day(4)]  # days run in parallel
    assert second.states()[-1] == {"window_start": f"{day(4)}T00:00:00Z"}


@pytest.mark.parametrize(
    ("auth", "good", "bad"),
    [
        (
            ("basic", "ann", "s3cret"),
            {"auth_type": "basic", "username": "ann", "password": "s3cret"},
            {"auth_type": "basic", "username": "ann", "password": "wrong"},
        ),
        (
            ("bearer", "tok-1"),
            {"auth_type": "bearer", "token": "tok-1"},
            {"auth_type": "bearer", "token": "expired"},
        ),
        (
            ("cookie", "tok-2"),
            {"auth_type": "cookie", "token": "tok-2"},
            {"auth_type": "cookie", "token": "expired"},
        ),
    ],
    ids=["basic", "bearer", "cookie"],
)
def test_given_auth_mode_when_check_and_read_then_good_succeeds_bad_is_config_error(
    auth: tuple, good: dict, bad: dict, tmp_path: Path
) -> None:
    with SimulatorServer(FLEET, flavour="kubecost2", auth=auth) as server:
        check = Run("check", tmp_path, _config(server, credentials=good))
        wrong = Run("read", tmp_path, _config(server, credentials=bad))
    assert check.status()["status"] == "SUCCEEDED"
    assert wrong.returncode != 0
    error = wrong.errors()[0]
    assert error["failure_type"] == "config_error" and "credentials" in error["message"]
    secret = bad.get("password") or bad.get("token")
    assert all(secret not in json.dumps(m) for m in wrong.messages)


def test_given_sso_without_token_when_check_then_message_explains_sso(tmp_path: Path) -> None:
    with SimulatorServer(FLEET, flavour="kubecost2", auth=("sso_redirect", "t")) as server:
        check = Run("check", tmp_path, _config(server, flavour="kubecost"))
    assert check.status()["status"] == "FAILED"
    assert "single sign-on" in check.status()["message"]


def _essence(message: dict[str, Any]) -> tuple | None:
    """What a destination acts on: records, states with their counts, stream statuses."""
    if message["type"] == "RECORD":
        data = dict(message["record"]["data"])
        if "extraction_id" in data:  # new at every read
            data["extraction_id"] = "<one per read of a day>"
        return ("RECORD", message["record"]["stream"], data)
    if message["type"] == "STATE":
        state = message["state"]
        return (
            "STATE",
            state["stream"]["stream_descriptor"]["name"],
            state["stream"]["stream_state"],
            state["sourceStats"]["recordCount"],
        )
    if message["type"] == "TRACE" and message["trace"]["type"] == "STREAM_STATUS":
        status = message["trace"]["stream_status"]
        return ("STATUS", status["stream_descriptor"]["name"], status["status"])
    return None


def test_given_a_sync_when_read_by_the_process_then_the_same_messages_as_through_the_cdk(
    tmp_path: Path,
) -> None:
    """The process copies the day workers' RECORD lines to stdout (output.py); in-process, the
    records go through the CDK. Same records, states, record counts and statuses, in order."""
    from airbyte_cdk.models import AirbyteMessageSerializer, ConfiguredAirbyteCatalogSerializer
    from airbyte_cdk.test.entrypoint_wrapper import read

    from source_kubecost import SourceKubecost

    streams = ["allocations", "assets", "clusters"]
    with SimulatorServer(FLEET, flavour="kubecost2") as server:
        config = _config(server, end_date=day(1), page_size=5)
        run = Run("read", tmp_path, config, streams=streams)
        catalog = json.loads((tmp_path / "catalog.json").read_text())
        cdk = read(SourceKubecost(), config, ConfiguredAirbyteCatalogSerializer.load(catalog))
    assert run.returncode == 0, run.errors()
    direct = [e for e in map(_essence, run.messages) if e]
    through_cdk = [
        e for m in cdk.get_message_iterator() if (e := _essence(AirbyteMessageSerializer.dump(m)))
    ]
    assert direct == through_cdk
    counts = {s: float(len(run.records(s))) for s in streams}
    assert all(counts.values())
    assert {s: sum(e[3] for e in direct if e[:2] == ("STATE", s)) for s in streams} == counts
    assert [e[2] for e in direct if e[:2] == ("STATUS", "allocations")] == [
        "STARTED",
        "RUNNING",
        "COMPLETE",
    ]
    logs = [m["log"]["message"] for m in run.messages if m["type"] == "LOG"]
    assert f"allocations: {len(run.records())} records of 2 days copied to the output" in logs
    assert sum("Detected the API at" in line for line in logs) == 1


def test_given_two_syncs_when_read_then_each_read_of_a_day_is_one_counted_extraction(
    tmp_path: Path,
) -> None:
    """Every record of one read of a day carries the same `extraction_id` and the number of
    records of that read, parts included (a page size splits the day into requests); a day
    read again gets a new id that sorts after the first."""
    with SimulatorServer(FLEET, flavour="kubecost2") as server:
        config = _config(server, end_date=day(1), page_size=5)
        runs = [
            Run("read", tmp_path / str(n), config, streams=["allocations", "assets"])
            for n in range(2)
        ]
    ids: list[dict[tuple[str, str], str]] = []
    for run in runs:
        assert run.returncode == 0, run.errors()
        days: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for stream in ("allocations", "assets"):
            for record in run.records(stream):
                days.setdefault((stream, record["window_start"]), []).append(record)
        assert len(days) == 4
        for records in days.values():
            assert len({r["extraction_id"] for r in records}) == 1
            assert {r["extraction_records"] for r in records} == {len(records)}
        ids.append({key: records[0]["extraction_id"] for key, records in days.items()})
    assert len(set(ids[0].values())) == 4
    assert all(ids[0][key] < ids[1][key] for key in ids[0])


def test_given_a_page_size_on_opencost_when_read_then_the_repeated_page_ends_the_day(
    tmp_path: Path,
) -> None:
    """OpenCost ignores offset/limit: the second page repeats the first, which ends paging."""
    with SimulatorServer(FLEET, flavour="opencost") as server:
        run = Run("read", tmp_path, _config(server, end_date=day(0), page_size=5))
        pages = [q for p, q in server.requests if p == "/allocation"]
    assert run.returncode == 0, run.errors()
    _assert_costs_match_truth(run.records(), opencost=True, days=DAYS[:1])
    assert [q["offset"] for q in pages] == ["0", "5"]
    names = [r["name"] for r in run.records()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_given_a_killed_sync_when_workers_are_mid_day_then_they_die_and_nothing_is_left(
    tmp_path: Path, signal_name: str
) -> None:
    """A cancelled sync leaves no day worker behind, even one waiting on a slow answer, and
    nothing in the temporary directory: no config with its token, no spooled day."""
    import signal
    import time

    import psutil

    temp = tmp_path / "tmp"
    temp.mkdir()
    with SimulatorServer(FLEET, flavour="kubecost2") as server:
        server.faults.add(Fault(kind="slow", delay=8, path="/model/allocation"))
        token = "s3cr3t-token-of-the-killed-sync"
        credentials = {"auth_type": "bearer", "token": token}
        config = _write(tmp_path / "config.json", _config(server, credentials=credentials))
        catalog = _write(tmp_path / "catalog.json", json.loads(CATALOG.read_text()))
        sync = subprocess.Popen(
            [SOURCE, "read", "--config", str(config), "--catalog", str(catalog)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": str(temp)},
        )
        assert sync.stdout is not None
        for line in sync.stdout:  # the CDK runs the sync, waiting on the first day
            if b"Syncing stream: allocations" in line:
                break
        deadline = time.monotonic() + 30
        while sum(p == "/model/allocation" for p, _ in server.requests) < 2:
            assert time.monotonic() < deadline, "the workers never asked for a day"
            time.sleep(0.05)
        workers = psutil.Process(sync.pid).children()
        assert len(workers) == 2
        sync.send_signal(getattr(signal, signal_name))
        sync.wait()
        _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive
    left = [path for path in temp.rglob("*") if path.is_file()]
    assert left == []  # only the CDK's empty request-cache directory may remain
