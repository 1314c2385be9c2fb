"""Time is injected so that leases, expiry and retries are tested without sleeping."""

from __future__ import annotations

import functools
import math
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to. For tests and simulations."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


def iso(ts: float | None) -> str | None:
    """Render an epoch timestamp for people and agents (UTC, second precision plus millis).

    The text `datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")` gives, with Z
    for +00:00, at a quarter of its cost (a task read formats nine): the same rounding to the
    microsecond (half to even, carried into the second), then milliseconds cut, not rounded.
    """
    if ts is None:
        return None
    secs = math.floor(ts)
    micros = round((ts - secs) * 1e6)
    if micros >= 1_000_000:
        secs += 1
        micros -= 1_000_000
    return f"{_second(secs)}.{micros // 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _second(secs: int) -> str:
    # Timestamps cluster (a task's, its notes'), so most whole seconds are formatted once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
