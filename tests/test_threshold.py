"""The threshold ladder with hysteresis, on real hydrographs and on exact edge cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from floodwatch.readings import Reading
from floodwatch.rules.threshold import Crossing, Ladder, RuleState, evaluate

from .helpers import demo_readings, south_platte_stage

# NWS categories: CTSM2 action 18 / flood 20 / moderate 25 ft; LUPC2 10 / 11 / 13 / 15 ft
PATAPSCO = Ladder((("blue", 18.0), ("yellow", 20.0), ("orange", 25.0)), 1.0, timedelta(hours=1))
FORT_LUPTON = (("blue", 10.0), ("yellow", 11.0), ("orange", 13.0), ("red", 15.0))


def run(ladder: Ladder, readings: list[Reading]) -> list[Crossing]:
    state, out = RuleState(), []
    for r in readings:
        state, crossing = evaluate(ladder, state, r)
        if crossing:
            out.append(crossing)
    return out


def summary(crossings: list[Crossing]) -> list[tuple[str, str | None, str]]:
    return [
        (c.transition, c.level, c.reading.observed_at.strftime("%m-%d %H:%M")) for c in crossings
    ]


def test_ellicott_city_flood_crossings() -> None:
    # times in UTC; the file's 15:30 EST is 20:30 UTC
    assert summary(run(PATAPSCO, demo_readings())) == [
        ("opened", "yellow", "05-27 20:30"),  # 20.63 ft: straight past action to flood stage
        ("raised", "orange", "05-27 20:52"),  # 27.16 ft, the off-grid peak row
        ("lowered", "yellow", "05-28 00:00"),  # an hour below 24 ft (17:15 re-rise reset it)
        ("lowered", "blue", "05-28 01:30"),  # an hour below 19 ft
        ("cleared", None, "05-28 09:15"),  # an hour below 17 ft; the 19.46 ft hump held blue
    ]


def test_wobble_around_action_stage_opens_one_alert(fixtures_dir: Path) -> None:
    # Fort Lupton hovered around its 10 ft action stage for hours on 12 Sep 2013
    readings = [r for r in south_platte_stage(fixtures_dir) if r.observed_at.day == 12]
    ladder = Ladder(FORT_LUPTON, 0.25, timedelta(hours=1))
    crossings = run(ladder, readings)
    assert [c.transition for c in crossings].count("opened") == 1
    assert crossings[0].transition == "opened" and crossings[0].level == "blue"
    assert crossings[0].reading.value == 10.04
    # without hysteresis the same series flaps: the deadband and hold are what prevent it
    naive = run(Ladder(FORT_LUPTON, 0.0, timedelta(0)), readings)
    assert [c.transition for c in naive].count("opened") > 1


T0 = datetime(2026, 7, 1, tzinfo=UTC)
LADDER = Ladder((("blue", 10.0), ("yellow", 12.0)), 0.5, timedelta(minutes=30))


def series(*values: float, step: int = 10) -> list[Reading]:
    return [
        Reading("s", "stage", v, "m", T0 + timedelta(minutes=i * step))
        for i, v in enumerate(values)
    ]


def test_reaching_a_level_exactly_counts() -> None:
    assert summary(run(LADDER, series(9.99, 10.0)))[0][:2] == ("opened", "blue")


def test_not_lowered_before_the_hold_has_passed() -> None:
    # below 9.5 at 10, 20, 30 min after the first: 20 min < 30 min hold, then 30 min = hold
    kinds = [c.transition for c in run(LADDER, series(10.0, 9.4, 9.4, 9.4))]
    assert kinds == ["opened"]
    kinds = [c.transition for c in run(LADDER, series(10.0, 9.4, 9.4, 9.4, 9.4))]
    assert kinds == ["opened", "cleared"]


def test_inside_the_deadband_holds_the_level() -> None:
    # 9.6 is below 10 but above 10 - 0.5: not "below", however long it lasts
    assert [c.transition for c in run(LADDER, series(10.0, *[9.6] * 20))] == ["opened"]


def test_a_rise_resets_the_hold() -> None:
    kinds = [c.transition for c in run(LADDER, series(10.0, 9.4, 9.4, 9.6, 9.4, 9.4, 9.4))]
    assert kinds == ["opened"]


def test_missing_data_never_lowers() -> None:
    # one reading below, then silence for a day: no reading, no lowering
    readings = series(10.0, 9.0)
    assert [c.transition for c in run(LADDER, readings)] == ["opened"]


def test_out_of_order_and_repeated_readings_are_ignored() -> None:
    r = series(10.0, 12.5, 9.0)
    state, _ = evaluate(LADDER, RuleState(), r[1])
    again, crossing = evaluate(LADDER, state, r[0])  # older than the last one seen
    assert crossing is None and again == state
    again, crossing = evaluate(LADDER, state, r[1])  # the same reading twice
    assert crossing is None and again == state


def test_lowering_steps_one_hold_per_level() -> None:
    crossings = run(LADDER, series(12.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0))
    # from yellow straight to nothing: the level held is computed from the value, so the
    # first completed hold clears it in one step rather than lowering through blue
    assert [c.transition for c in crossings] == ["opened", "cleared"]


@pytest.mark.parametrize("value", [11.4, 9.5])
def test_lowered_to_the_level_still_held(value: float) -> None:
    crossings = run(LADDER, series(12.0, value, value, value, value))
    assert [(c.transition, c.level) for c in crossings] == [
        ("opened", "yellow"),
        ("lowered", "blue"),
    ]
