"""Level tracking with hysteresis, shared by every rule that has levels. Pure.

A rule reduces each new reading to two level indexes: `reached` (the highest level the reading
reaches) and `held` (the highest level the reading has not yet fallen clear of, i.e. within the
deadband). The tracker raises at once and lowers only after `held` has stayed below the current
level for `hold`, measured in observation time: without readings a level never lowers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

TransitionName = Literal["opened", "raised", "lowered", "cleared"]
NONE = -1  # the index of "no level"


@dataclass(frozen=True)
class LevelState:
    """What a rule remembers between readings about the level it has reached."""

    level: int = NONE
    below_since: datetime | None = None  # first reading of the current run below the level
    last_observed_at: datetime | None = None


@dataclass(frozen=True)
class Move:
    transition: TransitionName
    level: int
    previous: int


def track(
    state: LevelState, reached: int, held: int, at: datetime, hold: timedelta
) -> tuple[LevelState, Move | None]:
    """Apply one observation at `at`; older or repeated observations change nothing."""
    # LevelState is built directly rather than with dataclasses.replace: this runs once per
    # reading per rule, the ingest path's inner loop
    level, below = state.level, state.below_since
    if state.last_observed_at is not None and at <= state.last_observed_at:
        return state, None
    if reached > level:
        up: TransitionName = "opened" if level == NONE else "raised"
        return LevelState(reached, None, at), Move(up, reached, level)
    if level == NONE or held >= level:
        return LevelState(level, None, at), None
    if below is None:
        below = at
    if at - below < hold:
        return LevelState(level, below, at), None
    down: TransitionName = "cleared" if held == NONE else "lowered"
    return LevelState(held, None, at), Move(down, held, state.level)
