"""Rate of rise: the water rising at least `rise` per `per`, confirmed over consecutive readings.

One fast step can be a sensor's hiccup; `confirm` consecutive intervals each rising at least
that fast are a flood coming. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from floodwatch.readings import Reading
from floodwatch.rules.levels import NONE, LevelState, track
from floodwatch.rules.threshold import Crossing


@dataclass(frozen=True)
class RiseRule:
    rise: float  # in the readings' unit
    per: timedelta
    confirm: int  # consecutive intervals, >= 2
    level: str
    hold: timedelta


@dataclass(frozen=True)
class RiseState:
    level: LevelState = LevelState()
    recent: tuple[tuple[datetime, float], ...] = ()  # the last confirm + 1 readings


def rates(recent: tuple[tuple[datetime, float], ...], per: timedelta) -> list[float]:
    """Rise per `per` between each pair of consecutive readings."""
    return [
        (v2 - v1) / ((t2 - t1) / per)
        for (t1, v1), (t2, v2) in zip(recent, recent[1:], strict=False)
        if t2 > t1
    ]


def evaluate(
    rule: RiseRule, state: RiseState, reading: Reading
) -> tuple[RiseState, Crossing | None]:
    at = reading.observed_at
    if state.level.last_observed_at is not None and at <= state.level.last_observed_at:
        return state, None
    recent = (*state.recent, (at, reading.value))[-(rule.confirm + 1) :]
    measured = rates(recent, rule.per)
    rising = len(measured) == rule.confirm and all(r >= rule.rise for r in measured)
    index = 0 if rising else NONE
    level_state, move = track(state.level, index, index, at, rule.hold)
    new_state = RiseState(level_state, recent)
    if move is None:
        return new_state, None
    slowest = min(measured) if measured else 0.0
    crossing = Crossing(
        move.transition,
        rule.level if move.level == 0 else None,
        rule.level if move.previous == 0 else None,
        reading,
        round(slowest, 4),
        f"{reading.unit}/{_per(rule.per)}",
        {"rates": [round(r, 4) for r in measured]},
    )
    return new_state, crossing


def _per(per: timedelta) -> str:
    hours = per.total_seconds() / 3600
    return "h" if hours == 1 else f"{hours:g}h"
