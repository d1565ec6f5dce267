"""Data quality: hard limits per station, and single spikes that come straight back. Pure.

A reading outside the station's plausible range is rejected. A reading that jumps from the last
accepted one faster than `max_rate` is held as a *suspect* until the next reading: if that one
is back near the last accepted value, the suspect was a spike and is rejected; if the water
stayed up, both are accepted in order. A real flash flood is therefore evaluated one reading
late, never lost; a single spike raises nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from floodwatch.readings import Reading


@dataclass(frozen=True)
class QualityRule:
    minimum: float | None = None
    maximum: float | None = None
    max_rate: float | None = None  # largest plausible change per `per`, in the readings' unit
    per: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class QualityState:
    last: Reading | None = None  # the last accepted reading
    suspect: Reading | None = None


@dataclass(frozen=True)
class Screened:
    accepted: list[Reading] = field(default_factory=list)
    rejected: list[tuple[Reading, str]] = field(default_factory=list)


def screen(
    rule: QualityRule, state: QualityState, reading: Reading
) -> tuple[QualityState, Screened]:
    """Pass one reading through the station's checks (readings in time order)."""
    if rule.minimum is not None and reading.value < rule.minimum:
        return state, Screened(rejected=[(reading, "below_minimum")])
    if rule.maximum is not None and reading.value > rule.maximum:
        return state, Screened(rejected=[(reading, "above_maximum")])
    if rule.max_rate is None or state.last is None:
        return QualityState(reading, None), Screened(accepted=[reading])
    if state.suspect is not None:
        # checked first: when the next reading fits both, the water stayed up, which is the
        # reading to trust in a flood
        if _plausible(rule, state.suspect, reading):
            # it stayed: the jump was real
            return QualityState(reading, None), Screened(accepted=[state.suspect, reading])
        if _plausible(rule, state.last, reading):
            # back where it was: the suspect was a spike
            return QualityState(reading, None), Screened(
                accepted=[reading], rejected=[(state.suspect, "spike")]
            )
        # a second implausible jump: keep the newest as the suspect, the older is a spike
        return QualityState(state.last, reading), Screened(rejected=[(state.suspect, "spike")])
    if _plausible(rule, state.last, reading):
        return QualityState(reading, None), Screened(accepted=[reading])
    return QualityState(state.last, reading), Screened()


def _plausible(rule: QualityRule, before: Reading, after: Reading) -> bool:
    assert rule.max_rate is not None
    elapsed = after.observed_at - before.observed_at
    if elapsed <= timedelta(0):
        return True
    return abs(after.value - before.value) <= rule.max_rate * (elapsed / rule.per)
