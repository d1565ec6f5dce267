"""Clocks: the one place floodwatch learns what time it is.

Every component takes a clock (or a `now`) from its caller, so the service, `replay`, drills and
tests run the same code on different clocks.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current instant as an aware UTC datetime."""

    def now(self) -> datetime: ...

    @property
    def speed(self) -> float:
        """Simulated seconds per real second (1 for the wall clock)."""
        ...


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Return `value` in UTC; refuse naive datetimes, whose zone would be a guess."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{what} must carry a time zone, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class SystemClock:
    """The wall clock."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that moves only when told to; used by replay and tests."""

    speed = 1.0

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        when = require_aware(when, "when")
        with self._lock:
            if when < self._now:
                raise ValueError(f"a simulated clock does not run backwards ({when} < {self._now})")
            self._now = when

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            if delta < timedelta(0):
                raise ValueError("a simulated clock does not run backwards")
            self._now += delta
            return self._now


class ScaledClock:
    """Runs `speed` times faster than the wall clock, reading `start` at the real instant `origin`.

    Every process that shares `start`, `speed` and `origin` tells the same time (the demo's
    service and an `ack` typed in another terminal).
    """

    def __init__(self, start: datetime, speed: float, origin: datetime) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = require_aware(start, "start")
        self._speed = speed
        self._origin = require_aware(origin, "origin")

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def origin(self) -> datetime:
        return self._origin

    def rebase(self, origin: datetime) -> None:
        """Read `start` at the real instant `origin` from now on (a demo starting again)."""
        self._origin = require_aware(origin, "origin")

    def now(self) -> datetime:
        return self._start + (datetime.now(UTC) - self._origin) * self._speed
