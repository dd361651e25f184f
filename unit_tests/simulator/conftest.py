"""Shared fixtures of the simulator tests: one small fleet, real servers on free ports."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from simulator_helpers import NOW, SPEC

from kubecost_pipeline.simulator import Fleet, SimulatorServer


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    """A read-only fleet: tests that restate days build their own."""
    return Fleet(SPEC, now=NOW)


@pytest.fixture(scope="session")
def servers(fleet: Fleet) -> Iterator[Callable[[str], SimulatorServer]]:
    """One running server per flavour, started on first use."""
    running: dict[str, SimulatorServer] = {}

    def serve(flavour: str) -> SimulatorServer:
        if flavour not in running:
            running[flavour] = SimulatorServer(fleet, flavour=flavour).start()
        return running[flavour]

    yield serve
    for server in running.values():
        server.stop()
