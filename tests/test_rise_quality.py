"""Rate of rise and data quality on the real Ellicott City hydrograph."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from floodwatch.readings import Reading
from floodwatch.rules.quality import QualityRule, QualityState, screen
from floodwatch.rules.rise import RiseRule, RiseState, evaluate

from .helpers import demo_readings

FLOOD = demo_readings()
RISE = RiseRule(
    rise=1.0, per=timedelta(hours=1), confirm=2, level="yellow", hold=timedelta(hours=1)
)


def at(hour: int, minute: int, day: int = 27) -> datetime:
    """A time written in the file's EST, as UTC."""
    return datetime(2018, 5, day, hour, minute, tzinfo=UTC) + timedelta(hours=5)


def test_a_fast_rise_warns_before_the_flood_stage_is_reached() -> None:
    state, crossings = RiseState(), []
    for r in FLOOD:
        state, c = evaluate(RISE, state, r)
        if c:
            crossings.append(c)
    opened = crossings[0]
    # 14:45 -> 15:00 rose 1.93 ft (7.72 ft/h), 15:00 -> 15:15 3.80 ft (15.2 ft/h): two intervals
    # at >= 1 ft/h, confirmed at 15:15, a quarter hour before the stage reached 20 ft
    assert (opened.transition, opened.level) == ("opened", "yellow")
    assert opened.reading.observed_at == at(15, 15)
    assert opened.detail["rates"] == [7.72, 15.2]
    assert opened.value == 7.72 and opened.unit == "ft/h"
    assert crossings[1].transition == "cleared"


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
