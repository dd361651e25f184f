"""Round trips per store, counted where the hook calls each store."""

from __future__ import annotations

from collections import Counter


class Stats:
    """`count("mongodb")` once per request the hook sends (a bulk_write, a getMore, a query)."""

    def __init__(self) -> None:
        self.round_trips: Counter[str] = Counter()

    def count(self, store: str, n: int = 1) -> None:
        self.round_trips[store] += n
