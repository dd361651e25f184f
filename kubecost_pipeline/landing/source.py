"""Run an Airbyte source as a subprocess and stream its messages (one JSON line at a time)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from kubecost_pipeline.landing.errors import SourceError

logger = logging.getLogger(__name__)

_LOG_LEVELS = {"FATAL": 50, "ERROR": 40, "WARN": 30, "WARNING": 30, "INFO": 20, "DEBUG": 10}


def _beside() -> Path:
    return Path(sys.executable).parent / "source-kubecost"


def default_command() -> list[str]:
    """The connector's console script, preferably from this interpreter's environment."""
    beside = _beside()
    found = str(beside) if beside.exists() else shutil.which("source-kubecost")
    if not found:
        raise SourceError(
            "The connector `source-kubecost` is not installed in this environment; "
            "install the project (`make test` sets up .venv) or pass source_command."
        )
    return [found]


def _write_json(path: Path, payload: Any) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # config holds secrets
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle)
    return path


def trace_error(message: Mapping[str, Any]) -> str | None:
    """The user-facing text of a TRACE ERROR message, else None."""
    trace = message.get("trace") or {}
    if trace.get("type") != "ERROR":
        return None
    error = trace.get("error") or {}
    kind = error.get("failure_type") or "error"
    return f"{error.get('message') or 'unknown error'} ({kind})"


def log_message(message: Mapping[str, Any]) -> None:
    """Forward a source LOG message to this process's log."""
    log = message.get("log") or {}
    level = _LOG_LEVELS.get(str(log.get("level", "INFO")).upper(), logging.INFO)
    logger.log(level, "source: %s", log.get("message", ""))


class Source:
    """The connector's `discover` and `read` verbs, run in `workdir` with `config`."""

    def __init__(self, command: Sequence[str], config: Mapping[str, Any], workdir: Path):
        self.command = list(command)
        self.workdir = workdir
        self.config_path = _write_json(workdir / "config.json", dict(config))
        self.returncode: int | None = None

    def _messages(self, args: list[str]) -> Generator[dict[str, Any], None, None]:
        """Yield the JSON messages of one verb; sets `returncode` when the process ends."""
        self.returncode = None
        try:
            process = subprocess.Popen(
                [*self.command, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
            )
        except OSError as error:
            raise SourceError(
                f"Cannot start the source {self.command[0]!r}: {error}. "
                "Check that it is installed and executable."
            ) from error
        assert process.stdout is not None
        try:
            for line in process.stdout:
                try:
                    message = orjson.loads(line)
                except orjson.JSONDecodeError:
                    logger.warning("source printed a non-JSON line: %.200r", line)
                    continue
                if isinstance(message, dict):
                    yield message
            self.returncode = process.wait()
        finally:
            if process.poll() is None:  # the consumer stopped early: stop the source
                process.kill()
                process.wait()
            process.stdout.close()

    def discover(self) -> list[dict[str, Any]]:
        """The source's catalog streams. The connector installed with this interpreter gives
        its catalog in-process (source_kubecost/catalog.py, the same as its `discover`):
        like Airbyte, which keeps a connection's catalog, a sync then starts the connector
        (and imports the CDK) once, for `read`. Any other command is asked to `discover`."""
        if self.command == [str(_beside())]:
            from source_kubecost.catalog import catalog

            return list(catalog()["streams"])
        errors: list[str] = []
        verb = ["discover", "--config", str(self.config_path)]
        with contextlib.closing(self._messages(verb)) as messages:
            for message in messages:
                kind = message.get("type")
                if kind == "CATALOG":
                    return list(message["catalog"]["streams"])
                if kind == "LOG":
                    log_message(message)
                elif kind == "TRACE" and (error := trace_error(message)):
                    errors.append(error)
        raise SourceError(
            "The source did not return a catalog"
            + (f": {'; '.join(errors)}" if errors else f" (exit code {self.returncode})")
            + ". Check the source config with `source-kubecost check --config <file>`."
        )

    def read(
        self, catalog: Mapping[str, Any], state: list[dict[str, Any]]
    ) -> Generator[dict[str, Any], None, None]:
        """Yield every message of `read`; `returncode` is set once the iterator is exhausted."""
        catalog_path = _write_json(self.workdir / "catalog.json", dict(catalog))
        state_path = _write_json(self.workdir / "state.json", state)
        args = ["read", "--config", str(self.config_path), "--catalog", str(catalog_path)]
        yield from self._messages([*args, "--state", str(state_path)])
