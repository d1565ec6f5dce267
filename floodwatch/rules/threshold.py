"""Threshold ladder with hysteresis. Pure: state and reading in, state and crossings out.

A level is reached as soon as a reading is at or above it. It is left only after readings have
stayed below ``level - deadband`` for ``hold`` (measured in observation time, so missing data
never lowers a level: without readings the hold never completes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from floodwatch.readings import Reading

CrossingKind = Literal["opened", "raised", "lowered", "cleared"]


@dataclass(frozen=True)
class Ladder:
    """Ordered (level id, threshold) pairs, lowest first, all in `unit`."""

    levels: tuple[tuple[str, float], ...]
    deadband: float
    hold: timedelta

    def reached(self, value: float) -> int:
        """Index of the highest level `value` reaches, or -1."""
        idx = -1
        for i, (_, threshold) in enumerate(self.levels):
            if value >= threshold:
                idx = i
        return idx

    def held(self, value: float) -> int:
        """Index of the highest level `value` has not yet fallen clear of (threshold - deadband)."""
        idx = -1
        for i, (_, threshold) in enumerate(self.levels):
            if value >= threshold - self.deadband:
                idx = i
        return idx


@dataclass(frozen=True)
class RuleState:
    """What one rule remembers about one station between readings."""

    level: int = -1  # index into the ladder; -1 is "no level"
    below_since: datetime | None = None  # first reading of the current run below the held level
    last_observed_at: datetime | None = None


@dataclass(frozen=True)
class Crossing:
    kind: CrossingKind
    level: str | None  # the level after the crossing (None when cleared)
    previous: str | None
    reading: Reading


def evaluate(
    ladder: Ladder, state: RuleState, reading: Reading
) -> tuple[RuleState, Crossing | None]:
    """Apply one reading; readings older than the last one seen are ignored (out of order)."""
    if state.last_observed_at is not None and reading.observed_at <= state.last_observed_at:
        return state, None
    state = replace(state, last_observed_at=reading.observed_at)
    up = ladder.reached(reading.value)
    if up > state.level:
        kind: CrossingKind = "opened" if state.level < 0 else "raised"
        return _move(ladder, state, up, kind, reading)
    if state.level < 0:
        return state, None
    down = ladder.held(reading.value)
    if down >= state.level:
        return replace(state, below_since=None), None
    if state.below_since is None:
        return replace(state, below_since=reading.observed_at), None
    if reading.observed_at - state.below_since < ladder.hold:
        return state, None
    kind = "cleared" if down < 0 else "lowered"
    return _move(ladder, state, down, kind, reading)


def _move(
    ladder: Ladder, state: RuleState, to: int, kind: CrossingKind, reading: Reading
) -> tuple[RuleState, Crossing]:
    previous = ladder.levels[state.level][0] if state.level >= 0 else None
    level = ladder.levels[to][0] if to >= 0 else None
    # after a lowering the next level down needs its own full hold, counted from this reading
    below = reading.observed_at if kind == "lowered" and ladder.held(reading.value) < to else None
    return RuleState(to, below, reading.observed_at), Crossing(kind, level, previous, reading)
