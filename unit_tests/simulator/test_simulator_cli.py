"""`kubecost-pipeline simulate` serves until stopped and rejects bad options clearly."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys

import requests

from kubecost_pipeline.cli import main

ARGS = shlex.split(
    "simulate --fault 503:times=1,path=/model/allocation --port 0 --flavour opencost --seed 3 "
    "--clusters 1 --start 2026-11-01 --days 5 --now 2026-11-04T06:00:00Z"
)


def test_given_simulate_then_it_prints_the_url_and_serves_until_interrupted():
    proc = subprocess.Popen(
        [sys.executable, "-c", "from kubecost_pipeline.cli import main; main()", *ARGS],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("Serving simulated opencost at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        assert proc.stdout and f"API: {url}/allocation" in proc.stdout.readline()
        first = requests.get(f"{url}/allocation", params={"window": "yesterday"}, timeout=30)
        assert first.status_code == 503  # the --fault
        body = requests.get(f"{url}/allocation", params={"window": "yesterday"}, timeout=30).json()
        rows = body["data"][0]
        assert body["code"] == 200 and rows
        assert all(a["window"]["start"] == "2026-11-03T00:00:00Z" for a in rows.values())
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_given_bad_options_then_exit_2_with_the_value_and_the_fix(capsys):
    assert main(["simulate", "--port", "0", "--clusters", "0"]) == 2
    assert "FleetSpec.clusters must be an integer from 1 to 50, got 0" in capsys.readouterr().err
    for bad, message in (
        (["--auth", "basic:onlyuser"], "invalid --auth for mode 'basic'; use none, basic:USER"),
        (["--now", "2026-11-04"], "invalid --now '2026-11-04'; use YYYY-MM-DDTHH:MM:SSZ"),
    ):
        try:
            main(["simulate", *bad])
        except SystemExit as e:
            assert e.code == 2
        assert message in capsys.readouterr().err
