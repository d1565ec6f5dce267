"""Silent stations (rules/silence.py), decided on the Ellicott City gauge's last reading: which
stations get a data alert, and exactly what the change opening or clearing it carries (the
`opened`/`cleared` event and the page are made from it).

Written for mutants that survived the rest of the suite (tests/README.md)."""

from __future__ import annotations

from datetime import timedelta

from floodwatch.alerts.changes import Change, Transition
from floodwatch.rules.silence import SilenceRule, gone_silent, heard_from

from .helpers import demo_readings

RULE = SilenceRule(factor=3.0, level="blue", policy="default")
LAST = demo_readings()[-1].observed_at  # the gauge's last reading in the file
QUARTER = timedelta(minutes=15)


def test_only_a_station_heard_from_and_without_a_data_alert_is_called_silent() -> None:
    # listed first: a station that has never reported (not silent, it has not started) and one
    # whose data alert is already open; neither may hide the silent station listed after them
    cadence = {"01585200": QUARTER, "01491000": QUARTER, "01589025": QUARTER}
    last_seen = {"01491000": LAST, "01589025": LAST}
    now = LAST + timedelta(minutes=46)
    changes = gone_silent(RULE, cadence, last_seen, {"01491000"}, now)
    assert changes == [
        Change(
            Transition.OPENED, "silence", "silence:01589025", "01589025", "*", "default", "blue",
            None, 46.0, "min", LAST, {"last_observed_at": "2018-05-31T04:45:00+00:00"},
        )
    ]  # fmt: skip


def test_a_station_reporting_again_clears_its_data_alert_from_its_level() -> None:
    assert heard_from("01589025", "blue", "river") == Change(
        Transition.CLEARED, "silence", "silence:01589025", "01589025", "*", "river", None, "blue",
        0.0, "min",
    )  # fmt: skip
