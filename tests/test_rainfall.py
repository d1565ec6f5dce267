"""Rainfall windows against a hand-checked table, on real hourly precipitation values.

The series is Open-Meteo's hourly precipitation for Toronto recorded in
shared/fixtures/feeds/open_meteo (inches, converted here to mm at 25.4 mm/in). It is used as if
a rain gauge had reported it hour by hour. Hand-checked sums ending 2026-03-07 01:00 (UTC-5):
  1 h: 1.008 in                                   = 25.6032 mm
  3 h: 0 (23:00) + 0.256 + 1.008 = 1.264 in         = 32.1056 mm
  6 h: 0.016 + 0.028 + 0.126 + 0 + 0.256 + 1.008 = 1.434 in = 36.4236 mm
 24 h: the same five non-zero hours               = 36.4236 mm
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from floodwatch.readings import Reading
from floodwatch.rules.rainfall import RainRule, RainState, evaluate, sums
from floodwatch.rules.threshold import Crossing, Ladder

TORONTO = timezone(timedelta(hours=-5))
H = timedelta(hours=1)
LEVELS = ("blue", "yellow", "orange", "red")
# a township table (mm), lower than a county's so that this real series exercises it
TABLE = {
    H: ((10, "blue"), (20, "yellow"), (30, "orange"), (40, "red")),
    3 * H: ((20, "blue"), (30, "yellow"), (45, "orange"), (60, "red")),
    6 * H: ((30, "blue"), (40, "yellow"), (55, "orange"), (70, "red")),
    24 * H: ((40, "blue"), (50, "yellow"), (70, "orange"), (90, "red")),
}


def rule(hold: timedelta = timedelta(0)) -> RainRule:
    windows = tuple(
        (w, Ladder(tuple((name, float(v)) for v, name in rows))) for w, rows in TABLE.items()
    )
    return RainRule(windows=windows, cadence=H, hold=hold, levels=LEVELS)


def rain(fixtures: Path) -> list[Reading]:
    data = json.loads(
        (fixtures / "feeds/open_meteo/forecast_hourly_precipitation.json").read_text()
    )
    assert data["hourly_units"]["precipitation"] == "inch"
    return [
        Reading("toronto", "rain", inches * 25.4, "mm",
                datetime.fromisoformat(t).replace(tzinfo=TORONTO))
        for t, inches in zip(data["hourly"]["time"], data["hourly"]["precipitation"], strict=True)
    ]  # fmt: skip


def run(r: RainRule, readings: list[Reading]) -> list[Crossing]:
    state, out = RainState(), []
    for reading in readings:
        state, crossing = evaluate(r, state, reading)
        if crossing:
            out.append(crossing)
    return out


def test_window_sums_match_the_hand_checked_table(fixtures_dir: Path) -> None:
    readings = rain(fixtures_dir)
    at = datetime(2026, 3, 7, 1, tzinfo=TORONTO)
    history = tuple((r.observed_at, r.value) for r in readings if r.observed_at <= at)
    got = {s.window: (s.total, s.complete) for s in sums(rule(), history, at)}
    assert got == {
        H: (pytest.approx(25.6032), True),
        3 * H: (pytest.approx(32.1056), True),
        6 * H: (pytest.approx(36.4236), True),
        24 * H: (pytest.approx(36.4236), True),
    }


def test_the_level_is_the_highest_any_window_reaches(fixtures_dir: Path) -> None:
    crossings = run(rule(), rain(fixtures_dir))
    first = crossings[0]
    # 1 h 25.6 mm -> yellow, 3 h 32.1 -> yellow, 6 h 36.4 -> blue, 24 h 36.4 -> none
    assert (first.transition, first.level, first.previous) == ("opened", "yellow", None)
    assert first.reading.observed_at == datetime(2026, 3, 7, 1, tzinfo=TORONTO)
    assert first.detail["window"] == "3h" and first.value == pytest.approx(32.1056)
    # the event's detail (README: rainfall {window, sums, incomplete}), every window named
    assert first.detail == {
        "window": "3h",
        "sums": {"1h": 25.6032, "3h": 32.1056, "6h": 36.4236, "24h": 36.4236},
        "incomplete": [],
    }
    # 03:00: 3 h = 1.008 + 0.016 + 0 in = 26.0 mm (blue); 6 h = 35.7 mm (blue)
    lowered = crossings[1]
    assert (lowered.transition, lowered.level, lowered.previous) == ("lowered", "blue", "yellow")
    assert lowered.reading.observed_at == datetime(2026, 3, 7, 3, tzinfo=TORONTO)
    cleared = crossings[2]
    # 06:00: the 00:00 hour has left the 6 h window: 1.008 + 0.016 + 0.016 + 0.043 in = 27.5 mm,
    # under every window's blue line (24 h: 38.3 mm < 40)
    assert (cleared.transition, cleared.level, cleared.previous) == ("cleared", None, "blue")
    assert cleared.reading.observed_at == datetime(2026, 3, 7, 6, tzinfo=TORONTO)
    # 09:00: the 24 h window reaches 1.596 in = 40.5384 mm, blue, though no hour is heavy
    again = crossings[3]
    assert (again.transition, again.level, again.detail["window"]) == ("opened", "blue", "24h")
    assert again.value == pytest.approx(40.5384)
    assert again.reading.observed_at == datetime(2026, 3, 7, 9, tzinfo=TORONTO)


def test_a_gap_makes_the_sum_incomplete_and_never_lowers(fixtures_dir: Path) -> None:
    gap = datetime(2026, 3, 7, 2, tzinfo=TORONTO)
    readings = [r for r in rain(fixtures_dir) if r.observed_at != gap]
    crossings = run(rule(), readings)
    assert (crossings[0].transition, crossings[0].level) == ("opened", "yellow")
    # while the missing hour lies inside any window, that window's sum is only a lower bound:
    # the level holds (without the gap it fell at 03:00 and cleared at 06:00). The 24 h window
    # spans the gap until 02:00 the next day, when everything is known again and under the lines.
    nxt = crossings[1]
    assert (nxt.transition, nxt.reading.observed_at) == ("cleared", gap + timedelta(days=1))
    assert nxt.detail["incomplete"] == []
    at = gap + H
    history = tuple((r.observed_at, r.value) for r in readings if r.observed_at <= at)
    complete = {t.window: t.complete for t in sums(rule(), history, at)}
    assert complete == {H: True, 3 * H: False, 6 * H: False, 24 * H: False}


def test_the_first_hours_of_data_are_incomplete_windows(fixtures_dir: Path) -> None:
    readings = rain(fixtures_dir)
    history = ((readings[0].observed_at, readings[0].value),)
    got = {s.window: s.complete for s in sums(rule(), history, readings[0].observed_at)}
    assert got == {H: True, 3 * H: False, 6 * H: False, 24 * H: False}


def test_hold_delays_lowering(fixtures_dir: Path) -> None:
    crossings = run(rule(hold=3 * H), rain(fixtures_dir))
    # below yellow from 03:00; three hours later, at 06:00, nothing is held any more, so the
    # alert clears in one step instead of passing through blue
    assert [(c.transition, c.reading.observed_at.astimezone(TORONTO).hour) for c in crossings[:2]] == [
        ("opened", 1), ("cleared", 6),
    ]  # fmt: skip


def test_a_repeated_reading_changes_nothing(fixtures_dir: Path) -> None:
    # a gauge that reports every hour twice: the repeat must not be added to the sums again
    readings = rain(fixtures_dir)
    twice = [r for r in readings for _ in range(2)]
    assert run(rule(), twice) == run(rule(), readings)


@pytest.mark.parametrize(("late", "complete"), [(30, True), (31, False)])
def test_a_reading_up_to_half_a_cadence_late_leaves_the_window_complete(
    fixtures_dir: Path, late: int, complete: bool
) -> None:
    # the 02:00 amount arrives stamped 02:30 (a gauge clock running late): 01:00 -> 02:30 is
    # 1.5 cadences, within the half-cadence slack; a minute more is a gap
    two = datetime(2026, 3, 7, 2, tzinfo=TORONTO)
    at = two + H
    history = tuple(
        (
            r.observed_at + timedelta(minutes=late) if r.observed_at == two else r.observed_at,
            r.value,
        )
        for r in rain(fixtures_dir)
        if r.observed_at <= at
    )
    got = {s.window: s.complete for s in sums(rule(), history, at)}
    assert got == {H: True, 3 * H: complete, 6 * H: complete, 24 * H: complete}


def test_windows_under_an_hour_are_named_in_minutes(fixtures_dir: Path) -> None:
    # a 30 min window beside the hour one (a gauge reporting every half hour would use it)
    ladder = Ladder(tuple((name, float(v)) for v, name in TABLE[H]))
    r = RainRule(
        windows=((H / 2, ladder), (H, ladder)), cadence=H, hold=timedelta(0), levels=LEVELS
    )
    first = run(r, rain(fixtures_dir))[0]
    assert first.reading.observed_at == datetime(2026, 3, 7, 1, tzinfo=TORONTO)
    assert first.detail["sums"] == {"30m": 25.6032, "1h": 25.6032}
