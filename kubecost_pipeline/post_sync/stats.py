"""Round trips per store, counted where the hook calls each store."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class Stats:
    """`count("mongodb")` once per request the hook sends (a bulk_write, a getMore, a query)."""

    def __init__(self) -> None:
        self.round_trips: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def count(self, store: str, n: int = 1) -> None:
        self.round_trips[store] += n

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[step] += time.monotonic() - started
