"""Village warnings decided (villages.warnings): pure, state in and state out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from floodwatch.readings import Reading
from floodwatch.villages.model import LevelTrigger, RainTrigger
from floodwatch.villages.warnings import (
    Figure,
    Round,
    VillageState,
    by_hand,
    cleared,
    level_figure,
    next_reminder,
    observe,
    rain_figure,
    warned,
    window_sums,
)

T0 = datetime(2018, 5, 27, 20, 30, tzinfo=UTC)
GAUGE = LevelTrigger("01589025", "stage", "ft", prepare=20, move_now=24)
H = timedelta(hours=1)


def stage(value: float, minutes: int = 0, unit: str = "ft") -> Figure:
    return level_figure(
        GAUGE, Reading("01589025", "stage", value, unit, T0 + timedelta(minutes=minutes))
    )


def test_a_rising_river_warns_prepare_then_move_now_and_nothing_lowers_it() -> None:
    state = VillageState()
    state, warn = observe(state, [stage(17.4)])
    assert warn is None and state.warning is None
    state, warn = observe(state, [stage(20.63, 15)])
    assert warn is not None and (warn.warning, warn.previous) == ("prepare", None)
    assert warn.cause == {
        "kind": "level", "station": "01589025", "parameter": "stage", "value": 20.63,
        "unit": "ft", "observed_at": "2018-05-27T20:45:00+00:00", "threshold": 20,
    }  # fmt: skip
    state, warn = observe(state, [stage(24.16, 30)])
    assert warn is not None and (warn.warning, warn.previous) == ("move_now", "prepare")
    for value in (27.2, 21.0, 15.0):  # the crest, then the water falls: the warning stands
        state, warn = observe(state, [stage(value, 45)])
        assert warn is None and state.warning == "move_now"


def test_a_batch_warns_once_at_its_highest_from_the_warning_before_it() -> None:
    state, warn = observe(VillageState(), [stage(20.63), stage(24.16, 15), stage(22, 30)])
    assert warn is not None and (warn.warning, warn.previous) == ("move_now", None)
    assert warn.cause["value"] == 24.16 and state.warning == "move_now"


def test_after_a_clear_the_level_held_is_not_warned_again_until_the_water_falls_below_it() -> None:
    state, _ = observe(VillageState(), [stage(24.5)])
    state = cleared(state)  # the leader clears it while the river is still at move_now
    assert (state.warning, state.held) == (None, "move_now")
    state, warn = observe(state, [stage(25.0)])
    assert warn is None  # held
    state, warn = observe(state, [stage(21.0)])  # below move_now: held down to prepare
    assert warn is None and state.held == "prepare"
    state, warn = observe(state, [stage(24.2)])  # a new rise to move_now warns again
    assert warn is not None and warn.warning == "move_now"
    state = cleared(state)
    state, _ = observe(state, [stage(10.0)])  # all clear: nothing held
    assert state.held is None
    state, warn = observe(state, [stage(20.1)])
    assert warn is not None and warn.warning == "prepare"


def test_by_hand_only_raises() -> None:
    state = VillageState()
    warn = by_hand(state, "prepare", {"kind": "hand", "by": "wang.fang"})
    assert warn is not None and warn.previous is None
    state = warned(state, warn)
    assert by_hand(state, "prepare", {}) is None
    raised = by_hand(state, "move_now", {})
    assert raised is not None and raised.previous == "prepare"


def test_a_source_that_stopped_being_watched_is_forgotten() -> None:
    data = {"warning": "prepare", "held": None, "sources": {"level:old:stage": 1, GAUGE.source: 0}}
    state = VillageState.from_data(data, [GAUGE.source])
    assert state.sources == {GAUGE.source: 0} and state.warning == "prepare"
    assert VillageState.from_data({"warning": "bogus"}, []).warning is None


def test_levels_are_compared_in_the_village_units() -> None:
    assert stage(6.1, unit="m").reached == 0  # 20.01 ft
    assert stage(7.32, unit="m").reached == 1  # 24.02 ft
    with pytest.raises(ValueError):
        stage(20, unit="ft3/s")


RAIN = RainTrigger("R01", "rain", "mm", H, prepare={H: 40, 3 * H: 60}, move_now={3 * H: 90})


def test_rain_sums_over_each_window_against_the_county_indicators() -> None:
    amounts = [(T0 + k * H, v) for k, v in enumerate((10.0, 25.0, 26.0, 41.0))]
    at = T0 + 3 * H
    assert window_sums(RAIN, amounts, at) == {H: 41.0, 3 * H: 92.0}
    figure = rain_figure(RAIN, amounts, at)
    assert figure.reached == 1
    assert (figure.cause["window"], figure.cause["value"], figure.cause["threshold"]) == (
        "3h",
        92.0,
        90,
    )
    early = rain_figure(RAIN, amounts[:2], T0 + H)  # 35 mm in 3 h, 25 in 1 h: nothing
    assert early.reached == -1
    one_hour = rain_figure(RAIN, [(T0, 45.0)], T0)
    assert (one_hour.reached, one_hour.cause["window"]) == (0, "1h")


def test_a_round_names_who_has_not_answered_once_the_wait_is_over() -> None:
    due = T0 + timedelta(minutes=10)
    r = Round(["zhang", "chen", "zhao", "zhang"], {"chen": T0 + timedelta(minutes=3)}, due)
    assert r.pending() == ["zhang", "zhao"]
    assert r.overdue(due - timedelta(seconds=1)) == []
    assert r.overdue(due) == ["zhang", "zhao"]
    assert Round(["zhang"], {}, None).overdue(due) == []  # the leader was told already


def test_reminders_keep_their_beat() -> None:
    every = timedelta(minutes=30)
    assert next_reminder(None, every, T0) is None
    assert next_reminder(T0, every, T0 - timedelta(minutes=1)) == T0
    assert next_reminder(T0, every, T0) == T0 + every
    assert next_reminder(T0, every, T0 + timedelta(minutes=95)) == T0 + 4 * every
