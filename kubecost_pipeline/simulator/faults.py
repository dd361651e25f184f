"""Faults injected into responses on demand, by count, by rate or from a given request on."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from kubecost_pipeline.simulator.hashing import uniform

KINDS = {
    "500": "HTTP 500 with Kubecost's JSON error body",
    "502": "HTTP 502 nginx HTML page",
    "503": "HTTP 503 nginx HTML page",
    "504": "HTTP 504 nginx gateway-timeout HTML page",
    "429": "HTTP 429 with a Retry-After header",
    "slow": "answer normally after `delay` seconds",
    "timeout": "send nothing for `delay` seconds, then close (a client read timeout)",
    "reset": "close the connection with a TCP reset before answering",
    "truncated": "stop the JSON body half way and close the connection",
    "nan": "NaN-derived nulls in efficiency and usage-average fields",
    "null": "null in adjustment, network-split, pvs and lbAllocations fields",
    "code": "HTTP 200 whose JSON says code `code` (default 500) with data null",
    "empty": "HTTP 200 with empty sets",
}


@dataclass
class Fault:
    """One injected fault.

    Args:
        kind: one of ``KINDS``.
        times: fire for this many matching requests, then stop (None: no count limit).
        rate: fire for this fraction of matching requests, deterministically from ``seed``.
        path: only requests whose path starts with this (``/model`` is optional, so
            ``/model/allocation`` also matches OpenCost's ``/allocation``); None: any data
            endpoint (allocation, assets, cluster info, ...).
        after: let this many matching requests through before the fault starts.
        delay: seconds for ``slow`` and ``timeout``.
        retry_after: the Retry-After header of ``429``.
        code: the JSON ``code`` of ``code``.
        seed: seed of the ``rate`` draw.
    """

    kind: str
    times: int | None = None
    rate: float | None = None
    path: str | None = None
    after: int = 0
    delay: float = 2.0
    retry_after: int = 1
    code: int = 500
    seed: int = 0
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; choose one of: "
                + "; ".join(f"{k} ({v})" for k, v in KINDS.items())
            )
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"Fault.rate must be between 0 and 1, got {self.rate!r}")
        if self.times is not None and self.times < 0:
            raise ValueError(f"Fault.times must be >= 0, got {self.times!r}")

    def matches(self, path: str) -> bool:
        if self.path is None:
            return True
        bare = self.path.removeprefix("/model")
        return path.startswith(self.path) or path.removeprefix("/model").startswith(bare)

    def fires(self) -> bool:
        """Count one matching request; whether the fault hits it."""
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.rate is not None and uniform(self.seed, self.seen, 31) >= self.rate:
            return False
        self.fired += 1
        return True


_OPTION_TYPES = {
    "times": int,
    "rate": float,
    "path": str,
    "after": int,
    "delay": float,
    "retry_after": int,
    "code": int,
    "seed": int,
}


def parse_fault(text: str) -> Fault:
    """``KIND[:option=value,...]``, e.g. ``503:times=2,path=/model/allocation``."""
    kind, _, rest = text.partition(":")
    options: dict[str, object] = {}
    for item in filter(None, rest.split(",")):
        name, _, value = item.partition("=")
        cast = _OPTION_TYPES.get(name.strip())
        if cast is None or not value:
            raise ValueError(
                f"bad fault option {item!r} in {text!r}; use name=value with a name among "
                f"{', '.join(_OPTION_TYPES)}"
            )
        try:
            options[name.strip()] = cast(value.strip())
        except ValueError:
            raise ValueError(
                f"bad fault option {item!r} in {text!r}: {name} takes "
                + {int: "an integer", float: "a number"}.get(cast, "text")
            ) from None
    return Fault(kind=kind.strip(), **options)  # type: ignore[arg-type]


class FaultSet:
    """The faults of one server; the first fault that fires on a request wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __iter__(self):
        return iter(list(self._faults))

    def pick(self, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.matches(path) and f.fires():
                    return f
        return None
