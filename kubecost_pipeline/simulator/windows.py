"""Kubecost/OpenCost ``window`` and duration parsing (opencost ``core/pkg/opencost/window.go``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"^(\d+)(m|h|d|w)$")
_OFFSET = re.compile(r"^(\d+)(m|h|d|w) offset (\d+)(m|h|d|w)$")
_UNIX = re.compile(r"^(\d+)[,|-](\d+)$")
_RFC = r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)"
_RFC_PAIR = re.compile(rf"^{_RFC},{_RFC}$")


class WindowError(ValueError):
    """An illegal window, reported as Kubecost does: ``illegal window: <value>``."""


def parse_duration(text: str) -> timedelta | None:
    """``1h``, ``1d``, ``2w`` ... or None when it does not parse (callers fall back to the
    default, as Kubecost's parameter mapper silently does)."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        return None
    return int(m.group(1)) * _UNITS[m.group(2)]


def _truncate(t: datetime, unit: str) -> datetime:
    if unit == "m":
        return t.replace(second=0, microsecond=0)
    if unit == "h":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        return day - timedelta(days=(day.weekday() + 1) % 7)  # weeks start on Sunday
    return day


def parse_window(text: str, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of a Kubecost window string, relative to ``now`` (UTC).

    Durations are aligned as in Kubecost >= 1.107: ``end = now`` truncated to the unit plus
    one unit, so ``7d`` is today (partial) and the six days before it.
    """
    w = text.strip()
    today = _truncate(now, "d")
    week = _truncate(now, "w")
    keywords = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "week": (week, now),
        "lastweek": (week - timedelta(weeks=1), week),
        "month": (today.replace(day=1), now),
    }
    if w in keywords:
        return keywords[w]
    if w == "lastmonth":
        end = today.replace(day=1)
        return (end - timedelta(days=1)).replace(day=1), end
    if m := _DURATION.match(w):
        n, unit = int(m.group(1)), m.group(2)
        end = _truncate(now, unit) + _UNITS[unit]
        start = end - n * _UNITS[unit]
    elif m := _OFFSET.match(w):
        end = _truncate(now, m.group(4)) + _UNITS[m.group(4)] - int(m.group(3)) * _UNITS[m.group(4)]
        start = end - int(m.group(1)) * _UNITS[m.group(2)]
    elif m := _UNIX.match(w):
        start = datetime.fromtimestamp(int(m.group(1)), UTC)
        end = datetime.fromtimestamp(int(m.group(2)), UTC)
    elif m := _RFC_PAIR.match(w):
        start = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        end = datetime.strptime(m.group(2), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    else:
        raise WindowError(f"illegal window: {text}")
    if end <= start:
        raise WindowError(f"illegal window: {text}")
    return start, end


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
