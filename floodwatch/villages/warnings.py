"""Village warnings, decided. Pure: state in, state out, `now` passed in.

A village's warning only ever rises by itself: none -> prepare (准备转移) -> move now (立即转移).
Nothing lowers or clears it but the leader on duty. Each source the village watches (a
station's level, a rain gauge's window sums) says which warning its latest figure reaches; the
village is warned at the highest any source reaches, when that is above the warning in force.

After the leader clears a warning, the level the sources still reach is *held*: it is not
warned again until the sources fall below it (the clear is the leader's word that the village
is dealt with), while a rise above it warns at once. A warning given by hand only raises.

The 叫应 of each warning is a round: the responsible persons paged, each one's answer, and the
time by which everyone should have answered; who has not by then is named to the leader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from floodwatch.readings import Reading
from floodwatch.units import convert
from floodwatch.villages.model import (
    NONE,
    WARNINGS,
    LevelTrigger,
    RainTrigger,
    rank,
    warning_at,
)


@dataclass(frozen=True)
class Figure:
    """What one source says now: the warning it reaches (`reached`: NONE or an index into
    WARNINGS) and, for the messages, what it saw (`cause`)."""

    source: str
    reached: int
    cause: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class VillageState:
    """A village's memory: the warning in force, the level held after a clear, and the
    warning each source reached last."""

    warning: str | None = None
    held: str | None = None
    sources: Mapping[str, int] = field(default_factory=dict, hash=False)

    def as_data(self) -> dict[str, Any]:
        return {"warning": self.warning, "held": self.held, "sources": dict(self.sources)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], sources: Iterable[str]) -> VillageState:
        """A stored state, keeping only the sources the village still watches."""
        keep = set(sources)
        known = {s: int(r) for s, r in dict(data.get("sources") or {}).items() if s in keep}
        warning = data.get("warning") if data.get("warning") in WARNINGS else None
        held = data.get("held") if data.get("held") in WARNINGS else None
        return cls(warning, held, known)


@dataclass(frozen=True)
class Warn:
    """Warn the village at `warning` (raising `previous`, if any), because of `cause`."""

    warning: str
    previous: str | None
    cause: Mapping[str, Any] = field(default_factory=dict, hash=False)


def observe(state: VillageState, figures: Sequence[Figure]) -> tuple[VillageState, Warn | None]:
    """Take the sources' new figures, in time order; warn when the highest level reached is
    above both the warning in force and the level held. Several figures that each raise give
    one warning, at the highest, from the warning in force before them."""
    before = state.warning
    warn: Warn | None = None
    for figure in figures:
        sources = {**state.sources, figure.source: figure.reached}
        top = max(sources.values(), default=NONE)
        held = state.held
        if held is not None and top < rank(held):
            held = warning_at(top)  # fallen below what was held: a new rise warns again
        warning, reached = state.warning, warning_at(top)
        if reached is not None and top > max(rank(warning), rank(held)):
            warning = reached
            warn = Warn(reached, before, figure.cause)
        state = VillageState(warning, held, sources)
    return state, warn


def by_hand(state: VillageState, warning: str, cause: Mapping[str, Any]) -> Warn | None:
    """The leader's warning: it only raises (None when the village already has it or more)."""
    if rank(warning) <= rank(state.warning):
        return None
    return Warn(warning, state.warning, cause)


def warned(state: VillageState, warn: Warn) -> VillageState:
    """The state once `warn` is in force."""
    return replace(state, warning=warn.warning)


def cleared(state: VillageState) -> VillageState:
    """The leader cleared the warning: nothing stands; what the sources reach now is held."""
    top = max(state.sources.values(), default=NONE)
    return VillageState(None, warning_at(top), state.sources)


# -- what the sources say ------------------------------------------------------------------------


def level_figure(trigger: LevelTrigger, reading: Reading) -> Figure:
    """A water level against the village's own levels (in the trigger's unit; ValueError for a
    unit that cannot be converted)."""
    value = convert(reading.value, reading.unit, trigger.unit)
    reached = trigger.reached(value)
    warning = warning_at(reached)
    cause: dict[str, Any] = {
        "kind": "level", "station": trigger.station, "parameter": trigger.parameter,
        "value": round(value, 6), "unit": trigger.unit,
        "observed_at": reading.observed_at.isoformat(),
    }  # fmt: skip
    if warning is not None:
        cause["threshold"] = trigger.threshold(warning)
    return Figure(trigger.source, reached, cause)


def window_sums(
    trigger: RainTrigger, amounts: Sequence[tuple[datetime, float]], at: datetime
) -> dict[timedelta, float]:
    """The rain in each of the trigger's windows ending at `at` (amounts in its unit, each the
    rain fallen in the cadence before its time). A window with missing readings is a lower
    bound: reaching an amount with it is a real exceedance, which is all a warning needs."""
    return {
        window: round(sum(v for t, v in amounts if at - window < t <= at), 6)
        for window in trigger.windows
    }


def rain_figure(
    trigger: RainTrigger, amounts: Sequence[tuple[datetime, float]], at: datetime
) -> Figure:
    sums = window_sums(trigger, amounts, at)
    reached, window = trigger.reached(sums)
    cause: dict[str, Any] = {
        "kind": "rain", "station": trigger.station, "parameter": trigger.parameter,
        "unit": trigger.unit, "observed_at": at.isoformat(),
    }  # fmt: skip
    warning = warning_at(reached)
    if warning is not None and window is not None:
        cause.update(
            window=_label(window), value=sums[window], threshold=trigger.threshold(warning, window)
        )
    return Figure(trigger.source, reached, cause)


def _label(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{int(window.total_seconds() // 60)}m"


# -- 叫应 -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    """One round of 叫应: who was paged, who answered and when, and by when all should have."""

    paged: Sequence[str]
    answered: Mapping[str, datetime] = field(default_factory=dict, hash=False)
    answer_by: datetime | None = None  # None: the leader has been told, or nobody is owed

    def pending(self) -> list[str]:
        """Who was paged and has not answered, in the order they were paged."""
        return [p for p in dict.fromkeys(self.paged) if p not in self.answered]

    def overdue(self, now: datetime) -> list[str]:
        """Those to name to the leader now: the pending, once `answer_by` has come."""
        if self.answer_by is None or now < self.answer_by:
            return []
        return self.pending()


def next_reminder(remind_at: datetime | None, every: timedelta, now: datetime) -> datetime | None:
    """When the leader is next reminded of a standing warning, given that one is due at
    `remind_at` (None: none is due): the next after `now` on the same beat."""
    if remind_at is None or now < remind_at:
        return remind_at
    behind = (now - remind_at) // every
    return remind_at + (behind + 1) * every
