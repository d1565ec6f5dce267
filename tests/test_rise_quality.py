"""Rate of rise and data quality on the real Ellicott City hydrograph."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from floodwatch.readings import Reading
from floodwatch.rules.quality import QualityRule, QualityState, screen
from floodwatch.rules.rise import RiseRule, RiseState, evaluate, rates
from floodwatch.rules.threshold import Crossing

from .helpers import demo_readings

FLOOD = demo_readings()
RISE = RiseRule(
    rise=1.0, per=timedelta(hours=1), confirm=2, level="yellow", hold=timedelta(hours=1)
)


def at(hour: int, minute: int, day: int = 27) -> datetime:
    """A time written in the file's EST, as UTC."""
    return datetime(2018, 5, day, hour, minute, tzinfo=UTC) + timedelta(hours=5)


def rise_crossings(rule: RiseRule, readings: list[Reading]) -> list[Crossing]:
    state, crossings = RiseState(), []
    for r in readings:
        state, c = evaluate(rule, state, r)
        if c:
            crossings.append(c)
    return crossings


def test_a_fast_rise_warns_before_the_flood_stage_is_reached() -> None:
    crossings = rise_crossings(RISE, FLOOD)
    opened = crossings[0]
    # 14:45 -> 15:00 rose 1.93 ft (7.72 ft/h), 15:00 -> 15:15 3.80 ft (15.2 ft/h): two intervals
    # at >= 1 ft/h, confirmed at 15:15, a quarter hour before the stage reached 20 ft
    assert (opened.transition, opened.level) == ("opened", "yellow")
    assert opened.reading.observed_at == at(15, 15)
    assert opened.detail["rates"] == [7.72, 15.2]
    assert opened.value == 7.72 and opened.unit == "ft/h"
    assert opened.previous is None
    # the water first fell at 16:00 (27.16 -> 27.01 ft): cleared an hour (the hold) later
    cleared = crossings[1]
    assert (cleared.transition, cleared.level, cleared.previous) == ("cleared", None, "yellow")
    assert cleared.reading.observed_at == at(17, 0)


def test_a_rise_exactly_at_the_configured_rate_counts() -> None:
    first_two = [
        (r.observed_at, r.value) for r in FLOOD if at(14, 45) <= r.observed_at <= at(15, 15)
    ]
    exactly = replace(RISE, rise=min(rates(tuple(first_two), RISE.per)))
    opened = rise_crossings(exactly, FLOOD)[0]
    assert (opened.transition, opened.reading.observed_at) == ("opened", at(15, 15))


def test_a_repeated_reading_changes_nothing() -> None:
    # a feed that sends every reading twice: the repeats must neither count as intervals nor
    # push real readings out of the ones that confirm a rise
    twice = [r for r in FLOOD for _ in range(2)]
    assert rise_crossings(RISE, twice) == rise_crossings(RISE, FLOOD)


def test_the_rate_is_reported_per_the_rules_period() -> None:
    # 1 ft per 30 min is 2 ft/h: the same rise, the crossing says which period it counts in
    half_hour = replace(RISE, rise=0.5, per=timedelta(minutes=30))
    opened = rise_crossings(half_hour, FLOOD)[0]
    assert opened.reading.observed_at == at(15, 15)
    assert (opened.value, opened.unit) == (3.86, "ft/0.5h")
    assert opened.detail == {"rates": [3.86, 7.6]}


def test_one_fast_step_is_not_a_rise() -> None:
    # 14:30 11.50 -> 14:45 11.63 (0.52 ft/h), 14:45 -> 15:00 13.56 (7.72 ft/h): one interval only
    readings = [r for r in FLOOD if r.observed_at <= at(15, 0)]
    state = RiseState()
    for r in readings:
        state, c = evaluate(RISE, state, r)
        assert c is None


QUALITY = QualityRule(minimum=0.0, maximum=60.0, max_rate=20.0, per=timedelta(hours=1))


def run_screen(readings: list[Reading]) -> tuple[list[Reading], list[tuple[Reading, str]]]:
    state, accepted, rejected = QualityState(), [], []
    for r in readings:
        state, out = screen(QUALITY, state, r)
        accepted += out.accepted
        rejected += out.rejected
    return accepted, rejected


def test_the_real_flash_flood_passes_the_spike_filter_whole() -> None:
    # 15:45 24.16 -> 15:52 27.16 ft is 25.7 ft/h, beyond 20 ft/h: the peak is held as a suspect
    # until 16:00 (27.01 ft) shows the water stayed up; then both are accepted, in order
    state, held = QualityState(), []
    for r in FLOOD:
        state, out = screen(QUALITY, state, r)
        if r.observed_at == at(15, 52):
            held = out.accepted
    assert held == []
    accepted, rejected = run_screen(FLOOD)
    assert rejected == [] and accepted == FLOOD


def test_a_single_spike_is_rejected_and_the_series_goes_on() -> None:
    spike_at = at(10, 0)
    spiked = [replace(r, value=31.4) if r.observed_at == spike_at else r for r in FLOOD]
    accepted, rejected = run_screen(spiked)
    assert [(r.observed_at, reason) for r, reason in rejected] == [(spike_at, "spike")]
    assert accepted == [r for r in FLOOD if r.observed_at != spike_at]


def test_the_limits_themselves_are_plausible() -> None:
    # the lowest (11.50 ft) and the highest (27.16 ft) reading of the flood, as the limits
    lowest, highest = min(r.value for r in FLOOD), max(r.value for r in FLOOD)
    state, rejected = QualityState(), []
    for r in FLOOD:
        state, out = screen(QualityRule(minimum=lowest, maximum=highest), state, r)
        rejected += out.rejected
    assert rejected == []


def test_spikes_after_a_spike_and_after_a_real_jump_are_still_caught() -> None:
    # once a suspect is settled (a spike rejected, or a jump found real) the reading after it
    # is checked against the new last value like any other
    spikes = {at(10, 0): 31.4, at(10, 30): 31.4, at(16, 15): 2.0}
    spiked = [replace(r, value=spikes.get(r.observed_at, r.value)) for r in FLOOD]
    accepted, rejected = run_screen(spiked)
    assert [(r.observed_at, reason) for r, reason in rejected] == [
        (t, "spike") for t in sorted(spikes)
    ]
    assert accepted == [r for r in FLOOD if r.observed_at not in spikes]


def test_two_spikes_in_a_row_are_both_rejected() -> None:
    # 10:00 jumps up, 10:15 jumps down far below: neither is near the other or the last good
    # reading; each is rejected, none is lost, and 10:30 is accepted
    spikes = {at(10, 0): 31.4, at(10, 15): 0.5}
    spiked = [replace(r, value=spikes.get(r.observed_at, r.value)) for r in FLOOD]
    accepted, rejected = run_screen(spiked)
    assert [(r.observed_at, r.value, reason) for r, reason in rejected] == [
        (at(10, 0), 31.4, "spike"),
        (at(10, 15), 0.5, "spike"),
    ]
    assert accepted == [r for r in FLOOD if r.observed_at not in spikes]


def test_a_jump_exactly_at_the_largest_plausible_rate_is_accepted() -> None:
    # 14:45 -> 15:00 rose 1.93 ft in a quarter hour; a max_rate of exactly that per quarter
    before, after = (r for r in FLOOD if r.observed_at in (at(14, 45), at(15, 0)))
    rule = QualityRule(max_rate=abs(after.value - before.value) * 4, per=timedelta(hours=1))
    state, _ = screen(rule, QualityState(), before)
    _, out = screen(rule, state, after)
    assert (out.accepted, out.rejected) == ([after], [])


def test_a_late_reading_older_than_the_last_accepted_is_not_lost() -> None:
    # no rate can be measured backwards in time: a backfilled reading passes
    older, newer = (r for r in FLOOD if r.observed_at in (at(14, 45), at(15, 0)))
    state, _ = screen(QUALITY, QualityState(), newer)
    _, out = screen(QUALITY, state, older)
    assert (out.accepted, out.rejected) == ([older], [])


def test_out_of_range_and_a_jump_that_stays() -> None:
    t0 = at(12, 0)
    r = [
        Reading("01589025", "stage", 11.5, "ft", t0),
        Reading("01589025", "stage", -3.0, "ft", t0 + timedelta(minutes=15)),
        Reading("01589025", "stage", 99.0, "ft", t0 + timedelta(minutes=30)),
        Reading("01589025", "stage", 19.0, "ft", t0 + timedelta(minutes=45)),  # +30 ft/h
        Reading("01589025", "stage", 19.2, "ft", t0 + timedelta(minutes=60)),  # and it stayed
    ]
    accepted, rejected = run_screen(r)
    assert [reason for _, reason in rejected] == ["below_minimum", "above_maximum"]
    assert accepted == [r[0], r[3], r[4]]
