"""Rates written as text: ``"10/hour"``, ``"100/5m"``, ``"3/day"``. Used by the
settings (``RATE_LIMITS``), a type's ``rate_limit`` and the rate limiter."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "s": 1, "sec": 1, "second": 1,
    "m": 60, "min": 60, "minute": 60,
    "h": 3600, "hour": 3600,
    "d": 86400, "day": 86400,
}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


def parse_rate(value: str) -> tuple[int, timedelta]:
    """``"10/hour"``, ``"100/5m"``, ``"3/day"`` → (count, window). ``ValueError`` otherwise."""
    match = _RATE.match(str(value).lower()) if isinstance(value, str) else None
    if not match or match.group(3) not in _UNITS:
        raise ValueError(f"{value!r} is not a rate; write it like '10/hour' or '100/5m'")
    count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if count < 1 or multiple < 1:
        raise ValueError(f"{value!r}: the count and the window must be positive")
    return count, timedelta(seconds=_UNITS[unit] * multiple)


def describe_window(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"
