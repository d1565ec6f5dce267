"""Rainfall accumulated over rolling windows, a ladder per window. Pure.

Readings are rain amounts (e.g. mm fallen in the hour ending at ``observed_at``), one every
``cadence``. For each window (1 h, 3 h, 6 h, 12 h, 24 h, ...) the amounts inside it are summed;
the level is the highest that any window reaches. A window with a gap inside it, or that
reaches back before the first reading, is *incomplete*: its sum is a lower bound. A lower bound
that reaches a level is a real exceedance, so it may raise; it never lowers or clears a level,
and the crossing says which windows were incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from floodwatch.readings import Reading
from floodwatch.rules.levels import NONE, LevelState, track
from floodwatch.rules.threshold import Crossing, Ladder


@dataclass(frozen=True)
class RainRule:
    """Per window, a ladder of (level, amount) in `unit`; the same level ids in every ladder."""

    windows: tuple[tuple[timedelta, Ladder], ...]
    cadence: timedelta
    hold: timedelta
    levels: tuple[str, ...]  # all level ids in order, lowest first

    @property
    def longest(self) -> timedelta:
        return max(w for w, _ in self.windows)


@dataclass(frozen=True)
class RainState:
    level: LevelState = LevelState()
    # (observed_at, amount) for the longest window, oldest first
    history: tuple[tuple[datetime, float], ...] = ()


@dataclass(frozen=True)
class WindowSum:
    window: timedelta
    total: float
    complete: bool


def sums(
    rule: RainRule, history: tuple[tuple[datetime, float], ...], at: datetime
) -> list[WindowSum]:
    """The sum over each window ending at `at`, and whether the window's data are complete.

    Each amount covers the `cadence` before its time, so a window is complete when the spacing
    from the window's start through every reading to `at` never exceeds the cadence (with half
    a cadence of slack for irregular clocks)."""
    out = []
    slack = rule.cadence / 2
    for window, _ in rule.windows:
        start = at - window
        inside = [(t, v) for t, v in history if start < t <= at]
        times = [start] + [t for t, _ in inside]
        gaps = any(b - a > rule.cadence + slack for a, b in zip(times, times[1:], strict=False))
        complete = bool(inside) and not gaps and inside[-1][0] == at
        out.append(WindowSum(window, round(sum(v for _, v in inside), 6), complete))
    return out


def evaluate(
    rule: RainRule, state: RainState, reading: Reading
) -> tuple[RainState, Crossing | None]:
    """Add one rain amount and move the level if a window's sum calls for it."""
    at = reading.observed_at
    if state.level.last_observed_at is not None and at <= state.level.last_observed_at:
        return state, None
    keep_from = at - rule.longest
    history = tuple((t, v) for t, v in state.history if t > keep_from) + ((at, reading.value),)
    totals = sums(rule, history, at)
    reached = held = NONE
    for (_, ladder), total in zip(rule.windows, totals, strict=True):
        reached = max(reached, _index(rule, ladder, ladder.reached(total.total)))
        held = max(held, _index(rule, ladder, ladder.held(total.total)))
    incomplete = [_label(t.window) for t in totals if not t.complete]
    if incomplete:
        held = max(held, state.level.level)  # a lower bound proves nothing about falling
    level_state, move = track(state.level, reached, held, at, rule.hold)
    new_state = replace(state, level=level_state, history=history)
    if move is None:
        return new_state, None
    # the window that put the alert where it is now (the highest reaching the new level)
    driving = max(
        ((t, ladder) for (_, ladder), t in zip(rule.windows, totals, strict=True)),
        key=lambda p: (_index(rule, p[1], p[1].reached(p[0].total)), p[0].total),
    )[0]
    detail = {
        "window": _label(driving.window),
        "sums": {_label(t.window): t.total for t in totals},
        "incomplete": incomplete,
    }
    name = rule.levels[move.level] if move.level != NONE else None
    previous = rule.levels[move.previous] if move.previous != NONE else None
    crossing = Crossing(
        move.transition, name, previous, reading, driving.total, reading.unit, detail
    )
    return new_state, crossing


def _index(rule: RainRule, ladder: Ladder, i: int) -> int:
    """A window ladder's index -> the index in the rule's full level list."""
    return NONE if i == NONE else rule.levels.index(ladder.levels[i][0])


def _label(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{int(window.total_seconds() // 60)}m"
