"""Same seed, same fleet: on every supported Python and across refactors of the model.

The digest below was taken from the model before it was split into modules (and checked
equal on Python 3.11 and 3.13); a change of it means demos, benchmarks and recorded test
expectations would no longer see the fleet they saw before.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

from kubecost_pipeline.simulator import Fleet, FleetSpec

DIGEST = "8b7ee74091c06bf20bb8138a27201be7"


def test_given_a_seed_then_allocations_and_truth_are_the_same_bytes_as_ever():
    fleet = Fleet(
        FleetSpec(seed=7, clusters=3, start=date(2026, 11, 1), days=4),
        now=datetime(2026, 11, 4, 9, tzinfo=UTC),  # the last days partial and restated
    )
    digest = hashlib.sha256()
    for day in fleet.days:
        for a in fleet.allocations(day):
            digest.update(repr((a.props, a.start, a.end, a.v, a.pvs, a.lbs, a.raw)).encode())
    for level in ("cluster", "node", "namespace", "controller", "pod"):
        digest.update(repr(sorted(fleet.truth(fleet.spec.start, level=level).items())).encode())
    assert digest.hexdigest()[:32] == DIGEST
