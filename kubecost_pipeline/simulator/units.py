"""Units of the model: money in integer ticks, hours, and the numbers of an allocation.

Money is counted in integer *ticks* of 1e-5 currency units, the rounding Kubecost applies to
allocation JSON, so sums at every level are exact: a namespace's cost is the sum of its
containers' costs to the last tick, and a node's asset cost is its allocated cost plus idle.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

TICKS = 100_000  # ticks per currency unit (5 decimals)
GIB = 2**30
HOUR = 3600.0

# Layout of Allocation.v: integer ticks first, then float quantities.
(
    CPU, CPU_ADJ, CPU_IDLE, GPU, GPU_ADJ, GPU_IDLE, RAM, RAM_ADJ, RAM_IDLE, PV, PV_ADJ,
    NET, NET_ADJ, NET_ZONE, NET_REGION, NET_INTERNET, LB, LB_ADJ, SHARED, EXTERNAL,
    CPU_HOURS, CPU_REQ_HOURS, CPU_USE_HOURS, RAM_HOURS, RAM_REQ_HOURS, RAM_USE_HOURS,
    GPU_HOURS, GPU_REQ_HOURS, GPU_USE_HOURS, PV_HOURS, NET_TX, NET_RX,
) = range(32)  # fmt: skip
N_TICKS = 20
N_FIELDS = 32


def new_vector() -> list:
    """A zero ``Allocation.v``: ticks are ints, quantities floats."""
    return [0] * N_TICKS + [0.0] * (N_FIELDS - N_TICKS)


def total_ticks(v: list) -> int:
    """``totalCost`` in ticks: every component plus adjustments, shared and external cost."""
    return (
        v[CPU]
        + v[CPU_ADJ]
        + v[GPU]
        + v[GPU_ADJ]
        + v[RAM]
        + v[RAM_ADJ]
        + v[PV]
        + v[PV_ADJ]
        + v[NET]
        + v[NET_ADJ]
        + v[LB]
        + v[LB_ADJ]
        + v[SHARED]
        + v[EXTERNAL]
    )


def to_ticks(amount: float) -> int:
    """Currency units -> ticks, rounded."""
    return round(amount * TICKS)


def epoch(d: date) -> float:
    """Unix seconds of a UTC day's midnight."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


class Spread:
    """Splits ``amount`` ticks over a stream of integer weights summing to ``total``, exactly:
    each share is the difference of rounded cumulative fractions, so shares add up to
    ``amount`` with no remainder, in one pass and O(1) memory."""

    __slots__ = ("amount", "cum", "given", "total")

    def __init__(self, amount: int, total: int) -> None:
        self.amount, self.total, self.cum, self.given = amount, total, 0, 0

    def take(self, weight: int) -> int:
        if self.total <= 0:
            return 0
        self.cum += weight
        target = (2 * self.amount * self.cum + self.total) // (2 * self.total)
        share = target - self.given
        self.given = target
        return share
