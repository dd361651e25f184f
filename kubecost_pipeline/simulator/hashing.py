"""Deterministic randomness: everything that varies per day is a hash of (seed, entity, day).

So any day can be produced on its own, in any order, as often as needed, without keeping
state. ``mix`` uses CPython's tuple hash (deterministic for ints, unlike str) finished with the
splitmix64 mixer: about 3x faster than a pure-Python splitmix over four ints.
"""

from __future__ import annotations

_M64 = (1 << 64) - 1
_POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for name suffixes


def mix(*parts: int) -> int:
    """A well-spread 64-bit hash of a tuple of ints."""
    h = hash(parts) & _M64
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _M64
    return h ^ (h >> 31)


def uniform(*parts: int) -> float:
    """A uniform float in [0, 1) determined by the parts."""
    return mix(*parts) / 18446744073709551616.0


def uniform3(*parts: int) -> tuple[float, float, float]:
    """Three uniform floats in [0, 1) (21 bits each) from one hash of the parts."""
    h = mix(*parts)
    return (h & 0x1FFFFF) / 2097152.0, ((h >> 21) & 0x1FFFFF) / 2097152.0, (h >> 43) / 2097152.0


def name_suffix(n: int, *parts: int) -> str:
    """``n`` characters of a Kubernetes-style name suffix (``7d9f8``) determined by the parts."""
    h = mix(*parts)
    out = []
    for _ in range(n):
        h, r = divmod(h, 27)
        out.append(_POD_CHARS[r])
    return "".join(out)
