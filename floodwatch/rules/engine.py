"""The configured rules as evaluators with storable state. Pure.

Each evaluator takes one station's readings of one parameter, converts them into the rule's
unit, and returns crossings; its state goes to and from the database as plain data (`Stored`).
Forecast rules look at a whole batch of predicted values instead of one reading at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from floodwatch.config import (
    AnyRule,
    ForecastRule,
    Level,
    RainfallRule,
    RiseRule,
    ThresholdRule,
    level_ids,
)
from floodwatch.durations import parse_duration
from floodwatch.readings import Reading
from floodwatch.rules import rainfall, rise
from floodwatch.rules.levels import NONE, LevelState, track
from floodwatch.rules.threshold import Crossing, Ladder
from floodwatch.rules.threshold import evaluate as evaluate_threshold
from floodwatch.units import convert


@dataclass(frozen=True)
class Stored:
    """A rule's memory as the database keeps it."""

    level: str | None = None
    below_since: datetime | None = None
    last_observed_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Evaluator(Protocol):
    @property
    def rule_id(self) -> str: ...
    @property
    def rule_type(self) -> str: ...
    @property
    def station(self) -> str: ...
    @property
    def parameter(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def policy(self) -> str: ...
    @property
    def forecast(self) -> bool: ...

    def evaluate(
        self, stored: Stored, readings: Sequence[Reading], now: datetime
    ) -> tuple[Stored, list[Crossing]]:
        """Apply readings (in time order, already in the rule's unit) at `now`."""
        ...


def _levels(state: Stored, names: Sequence[str]) -> LevelState:
    level = NONE
    if state.level is not None:
        try:
            level = names.index(state.level)
        except ValueError:  # a level no longer in the rule: start again from none
            level = NONE
    return LevelState(level, state.below_since, state.last_observed_at)


def _stored(level: LevelState, names: Sequence[str], data: dict[str, Any] | None = None) -> Stored:
    return Stored(
        names[level.level] if level.level != NONE else None,
        level.below_since,
        level.last_observed_at,
        data or {},
    )


S = TypeVar("S")


def _each(
    readings: Sequence[Reading],
    state: S,
    step: Callable[[S, Reading], tuple[S, Crossing | None]],
) -> tuple[S, list[Crossing]]:
    """Apply `step` to each reading in order; the final state and the crossings on the way."""
    out = []
    for reading in readings:
        state, crossing = step(state, reading)
        if crossing:
            out.append(crossing)
    return state, out


def _history(pairs: Sequence[tuple[datetime, float]]) -> list[list[Any]]:
    return [[t.isoformat(), v] for t, v in pairs]


def _unhistory(data: Any) -> tuple[tuple[datetime, float], ...]:
    return tuple((datetime.fromisoformat(t), float(v)) for t, v in data or [])


@dataclass(frozen=True)
class _Bound:
    """What every evaluator knows of its rule: which series it watches and the escalation
    policy its alerts follow."""

    rule_id: str
    station: str
    parameter: str
    unit: str
    policy: str


@dataclass(frozen=True)
class ThresholdEvaluator(_Bound):
    ladder: Ladder
    rule_type: str = "threshold"
    forecast: bool = False

    def evaluate(
        self, stored: Stored, readings: Sequence[Reading], now: datetime
    ) -> tuple[Stored, list[Crossing]]:
        names = self.ladder.names
        ladder = self.ladder
        state, out = _each(
            readings, _levels(stored, names), lambda st, r: evaluate_threshold(ladder, st, r)
        )
        return _stored(state, names), out


@dataclass(frozen=True)
class RainfallEvaluator(_Bound):
    rule: rainfall.RainRule
    rule_type: str = "rainfall"
    forecast: bool = False

    def evaluate(
        self, stored: Stored, readings: Sequence[Reading], now: datetime
    ) -> tuple[Stored, list[Crossing]]:
        names = self.rule.levels
        state = rainfall.RainState(_levels(stored, names), _unhistory(stored.data.get("history")))
        state, out = _each(readings, state, lambda st, r: rainfall.evaluate(self.rule, st, r))
        return _stored(state.level, names, {"history": _history(state.history)}), out


@dataclass(frozen=True)
class RiseEvaluator(_Bound):
    rule: rise.RiseRule
    rule_type: str = "rate_of_rise"
    forecast: bool = False

    def evaluate(
        self, stored: Stored, readings: Sequence[Reading], now: datetime
    ) -> tuple[Stored, list[Crossing]]:
        names = [self.rule.level]
        state = rise.RiseState(_levels(stored, names), _unhistory(stored.data.get("recent")))
        state, out = _each(readings, state, lambda st, r: rise.evaluate(self.rule, st, r))
        return _stored(state.level, names, {"recent": _history(state.recent)}), out


@dataclass(frozen=True)
class ForecastEvaluator(_Bound):
    """The predicted total over the next `window` from `now`, against a ladder (no hold)."""

    ladder: Ladder
    window: timedelta
    rule_type: str = "forecast"
    forecast: bool = True

    def evaluate(
        self, stored: Stored, readings: Sequence[Reading], now: datetime
    ) -> tuple[Stored, list[Crossing]]:
        names = self.ladder.names
        ahead = [r for r in readings if now < r.observed_at <= now + self.window]
        if not ahead:
            return stored, []
        total = round(sum(r.value for r in ahead), 6)
        index = self.ladder.reached(total)
        state, move = track(_levels(stored, names), index, index, now, timedelta(0))
        if move is None:
            return _stored(state, names), []
        last = max(ahead, key=lambda r: r.observed_at)
        crossing = Crossing(
            move.transition,
            self.ladder.name(move.level),
            self.ladder.name(move.previous),
            replace(last, value=total),
            total,
            self.unit,
            {
                "window": f"{self.window.total_seconds() / 3600:g}h",
                "until": last.observed_at.isoformat(),
            },
        )
        return _stored(state, names), [crossing]


def build(rules: Sequence[AnyRule], levels: Sequence[Level]) -> list[Evaluator]:
    """Evaluators for the configured rules, level names resolved to level ids."""
    ids = level_ids(levels)
    order = [lv.id for lv in levels]
    out: list[Evaluator] = []
    for r in rules:
        common = (r.id, r.station, r.parameter, r.unit, r.escalation)
        if isinstance(r, ThresholdRule):
            ladder = Ladder(tuple((ids[s.level], s.value) for s in r.levels), r.deadband, r.hold)
            out.append(ThresholdEvaluator(*common, ladder))
        elif isinstance(r, RainfallRule):
            windows: dict[timedelta, list[tuple[str, float]]] = {}
            for step in r.levels:
                for window, amount in step.over.items():
                    windows.setdefault(parse_duration(window), []).append((ids[step.level], amount))
            ladders = tuple(
                (w, Ladder(tuple(sorted(rows, key=lambda row: order.index(row[0])))))
                for w, rows in sorted(windows.items())
            )
            used = tuple(lv for lv in order if any(ids[s.level] == lv for s in r.levels))
            out.append(
                RainfallEvaluator(*common, rainfall.RainRule(ladders, r.cadence, r.hold, used))
            )
        elif isinstance(r, RiseRule):
            rule = rise.RiseRule(r.rise, r.per, r.confirm, ids[r.level], r.hold)
            out.append(RiseEvaluator(*common, rule))
        elif isinstance(r, ForecastRule):
            ladder = Ladder(tuple((ids[s.level], s.value) for s in r.levels))
            out.append(ForecastEvaluator(*common, ladder, r.window))
    return out


def in_unit(evaluator: Evaluator, reading: Reading) -> Reading:
    """The reading in the rule's unit; ValueError when the units measure different things."""
    if reading.unit == evaluator.unit:
        return reading
    return replace(
        reading, value=convert(reading.value, reading.unit, evaluator.unit), unit=evaluator.unit
    )
