"""Threshold ladder with hysteresis: water level (or any value) against ordered levels. Pure.

A level is reached as soon as a reading is at or above it. It is left only after readings have
stayed below ``level - deadband`` for ``hold`` (see rules.levels).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from floodwatch.readings import Reading
from floodwatch.rules.levels import NONE, LevelState, TransitionName, track

RuleState = LevelState  # the threshold rule remembers nothing beyond its level


@dataclass(frozen=True)
class Ladder:
    """Ordered (level id, threshold) pairs, lowest first, all in one unit."""

    levels: tuple[tuple[str, float], ...]
    deadband: float = 0.0
    hold: timedelta = timedelta(0)
    _names: list[str] = field(init=False, repr=False, compare=False)
    _up: list[float] = field(init=False, repr=False, compare=False)
    _down: list[float] = field(init=False, repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        return self._names

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", [n for n, _ in self.levels])
        thresholds = [t for _, t in self.levels]
        object.__setattr__(self, "_up", thresholds)
        object.__setattr__(self, "_down", [t - self.deadband for t in thresholds])

    def reached(self, value: float) -> int:
        """Index of the highest level `value` reaches, or -1."""
        return bisect_right(self._up, value) - 1

    def held(self, value: float) -> int:
        """Index of the highest level `value` has not yet fallen clear of (threshold - deadband)."""
        return bisect_right(self._down, value) - 1

    def name(self, index: int) -> str | None:
        return self.levels[index][0] if index != NONE else None


@dataclass(frozen=True)
class Crossing:
    """A rule moved from one level to another because of `reading`.

    `value` and `unit` are what the rule compared (the reading itself, or e.g. a rain sum);
    `detail` says more (which window, whether a sum was incomplete).
    """

    transition: TransitionName
    level: str | None  # the level after the crossing (None when cleared)
    previous: str | None
    reading: Reading
    value: float
    unit: str
    detail: dict[str, Any] = field(default_factory=dict)


def evaluate(
    ladder: Ladder, state: LevelState, reading: Reading
) -> tuple[LevelState, Crossing | None]:
    """Apply one reading; readings older than the last one seen are ignored (out of order)."""
    value = reading.value
    state, move = track(
        state, ladder.reached(value), ladder.held(value), reading.observed_at, ladder.hold
    )
    if move is None:
        return state, None
    crossing = Crossing(
        move.transition,
        ladder.name(move.level),
        ladder.name(move.previous),
        reading,
        value,
        reading.unit,
    )
    return state, crossing
