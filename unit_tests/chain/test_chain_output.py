"""What the commands write on stderr: one format for progress and logs, one event per line
whatever the threads, and colour codes only on a terminal."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kubecost_pipeline.cli import main
from kubecost_pipeline.progress import Progress


class SlowStream(io.StringIO):
    """A pipe that lets other threads run inside every write, as a busy stderr does."""

    def write(self, text: str) -> int:
        time.sleep(0)
        written = super().write(text)
        time.sleep(0)
        return written


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_given_threads_reporting_at_once_then_every_line_is_one_json_event():
    stream = SlowStream()
    progress = Progress.for_stream(stream)
    log = logging.getLogger("kubecost_pipeline.transform.test")
    log.addHandler(progress.log_handler())
    log.propagate = False

    def report(thread: int) -> None:
        for n in range(200):
            progress.step("dbt", f"model_{thread}_{n} success", thread=thread)
            log.warning("thread %s warns %s", thread, n)

    threads = [threading.Thread(target=report, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.handlers.clear()
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(events) == 8 * 200 * 2
    assert {e["stage"] for e in events} == {"dbt"}
    assert sum(e.get("level") == "warning" for e in events) == 8 * 200


def test_given_a_terminal_then_steps_and_log_records_are_readable_lines():
    stream = Terminal()
    progress = Progress.for_stream(stream)
    progress.step("sync", "allocations landed", rows=12)
    progress.log_handler().handle(
        logging.LogRecord(
            "kubecost_pipeline.landing.source", logging.WARNING, "", 0, "no data", (), None
        )
    )
    first, second = stream.getvalue().splitlines()
    assert first.endswith("] sync     allocations landed  (rows=12)")
    assert second.endswith("] sync     warning: no data")
    assert "\x1b" not in stream.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        ["sync", "--config", "/nonexistent/source.json"],  # the landing room's own command
        ["run", "--config", "/nonexistent/pipeline.toml"],
        ["transform", "--vars", "[1]"],
    ],
    ids=["sync", "run", "transform"],
)
def test_given_any_command_when_it_fails_then_stderr_is_json_events_of_one_shape(capsys, argv):
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]  # not a terminal: JSON, nothing else
    assert events and all({"elapsed_s", "stage", "message"} <= set(e) for e in events)
    assert events[-1]["level"] == "error"
    assert events[-1]["stage"] == {"sync": "sync", "run": "run", "transform": "dbt"}[argv[0]]


@pytest.mark.slow
def test_given_a_pipe_when_dbt_runs_then_no_colour_codes(tmp_path: Path):
    project = tmp_path / "tiny"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0'\nconfig-version: 2\nprofile: dbt_k8s_costs\n"
    )
    (project / "models" / "one.sql").write_text("select 1 as one")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "kubecost_pipeline.cli", "transform"),
            *("--project-dir", project, "--clickhouse-url", f"chdb://{tmp_path / 'ch'}"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Running with dbt=" in done.stdout  # dbt's own lines are there ...
    assert "\x1b" not in done.stdout + done.stderr  # ... without colour codes
