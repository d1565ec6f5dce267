"""Level tracking with hysteresis, shared by every rule that has levels. Pure.

A rule reduces each new reading to two level indexes: `reached` (the highest level the reading
reaches) and `held` (the highest level the reading has not yet fallen clear of, i.e. within the
deadband). The tracker raises at once and lowers only after `held` has stayed below the current
level for `hold`, measured in observation time: without readings a level never lowers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

CrossingKind = Literal["opened", "raised", "lowered", "cleared"]
NONE = -1  # the index of "no level"


@dataclass(frozen=True)
class LevelState:
    """What a rule remembers between readings about the level it has reached."""

    level: int = NONE
    below_since: datetime | None = None  # first reading of the current run below the level
    last_observed_at: datetime | None = None


@dataclass(frozen=True)
class Move:
    kind: CrossingKind
    level: int
    previous: int


def track(
    state: LevelState, reached: int, held: int, at: datetime, hold: timedelta
) -> tuple[LevelState, Move | None]:
    """Apply one observation at `at`; older or repeated observations change nothing."""
    if state.last_observed_at is not None and at <= state.last_observed_at:
        return state, None
    state = replace(state, last_observed_at=at)
    if reached > state.level:
        kind: CrossingKind = "opened" if state.level == NONE else "raised"
        return LevelState(reached, None, at), Move(kind, reached, state.level)
    if state.level == NONE:
        return state, None
    if held >= state.level:
        return replace(state, below_since=None), None
    if state.below_since is None:
        state = replace(state, below_since=at)
    assert state.below_since is not None
    if at - state.below_since < hold:
        return state, None
    kind = "cleared" if held == NONE else "lowered"
    return LevelState(held, None, at), Move(kind, held, state.level)
