"""Official warnings -> alert changes (alerts/official.py) on the recorded NWS Flood Watch and the
recorded UK Environment Agency warnings: what each message of a batch does, in order, given the
alerts already open, and exactly what the changes carry (README: official warnings' detail is
`{headline, warning_id, msg_type}`).

Written for mutants that survived the rest of the suite (tests/README.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from floodwatch.alerts.changes import Change, Transition
from floodwatch.alerts.official import NotActual, OpenWarning, Reissued, decide, rule_id_for
from floodwatch.config import DEFAULT_LEVELS
from floodwatch.feeds.nws import NwsAlertsFeed
from floodwatch.feeds.official import OfficialWarning
from floodwatch.feeds.uk_ea import UkEaFeed

from .conftest import LocalHTTPServer
from .feed_support import context, raw

NOW = datetime(2019, 12, 20, 22, 0, tzinfo=UTC)
# the Flood Watch's previous message (it lists every earlier one in `references`)
EARLIER = "NWS-IDP-PROD-3965324-3368680"


@pytest.fixture
def watch(http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path) -> OfficialWarning:
    """NWS Portland's Flood Watch for ORZ004 (an Update, severity Severe), as the feed reads it."""
    http_server.serve("/alerts/active", raw(fixtures_dir, "nws_alerts/alerts_active_zone.json"))
    options = NwsAlertsFeed.Options(base_url=http_server.url, zones=("ORZ004",))
    [w] = NwsAlertsFeed("nws", options, context(tmp_path, NOW)).fetch_warnings(NOW)
    assert (w.msg_type, w.severity, w.in_force) == ("Update", "Severe", True)
    assert EARLIER in w.references
    return w


def opened_at(level: str, message: str) -> dict[str, OpenWarning]:
    rule = rule_id_for(message)
    return {rule: OpenWarning(rule, level, "default", message)}


def change(
    transition: Transition, rule: str, w: OfficialWarning, level: str | None, previous: str | None
) -> Change:
    detail = {"headline": w.headline, "warning_id": w.id, "msg_type": w.msg_type}
    return Change(
        transition, "official", rule, "nws", w.event, "default", level, previous, 0.0, "",
        w.sent, detail, w.id,
    )  # fmt: skip


def test_a_new_warning_opens_an_alert_at_its_severitys_level(watch: OfficialWarning) -> None:
    got = decide("nws", [watch], {}, DEFAULT_LEVELS, NOW)
    assert got == [change(Transition.OPENED, rule_id_for(watch.id), watch, "orange", None)]


def test_unknown_severity_is_the_lowest_level(watch: OfficialWarning) -> None:
    [opened] = decide("nws", [replace(watch, severity="Unknown")], {}, DEFAULT_LEVELS, NOW)
    assert isinstance(opened, Change) and opened.level == "blue"


def test_the_same_message_again_does_nothing_and_hides_nothing_after_it(
    watch: OfficialWarning,
) -> None:
    other = replace(watch, id="NWS-OTHER-1", references=(), event="Flood Warning",
                    severity="Extreme", headline="Flood Warning for the Sandy River")  # fmt: skip
    got = decide("nws", [watch, other], opened_at("orange", watch.id), DEFAULT_LEVELS, NOW)
    assert got == [change(Transition.OPENED, rule_id_for(other.id), other, "red", None)]


def test_an_exercise_is_recorded_and_the_warnings_after_it_still_count(
    watch: OfficialWarning,
) -> None:
    drill = replace(watch, id="EXERCISE-1", status="Exercise", references=())
    got = decide("nws", [drill, watch], {}, DEFAULT_LEVELS, NOW)
    assert got == [
        NotActual(drill),
        change(Transition.OPENED, rule_id_for(watch.id), watch, "orange", None),
    ]


def test_a_chain_of_messages_in_one_batch_follows_each_one(watch: OfficialWarning) -> None:
    # the alert opened on the watch's previous message (orange). In one poll: the watch itself
    # (same level: the alert follows the new message), then messages that each reference only
    # the one before them: raised to Extreme, lowered to Moderate, cancelled
    rule = rule_id_for(EARLIER)
    later = watch.sent + timedelta(hours=1) if watch.sent else None
    up = replace(watch, id="NWS-UP", references=(watch.id,), severity="Extreme", sent=later)
    down = replace(watch, id="NWS-DOWN", references=("NWS-UP",), severity="Moderate")
    cancel = replace(watch, id="NWS-CANCEL", references=("NWS-DOWN",), msg_type="Cancel",
                     in_force=False)  # fmt: skip
    got = decide(
        "nws", [watch, up, down, cancel], opened_at("orange", EARLIER), DEFAULT_LEVELS, NOW
    )
    assert got == [
        Reissued(rule, watch),
        change(Transition.RAISED, rule, up, "red", "orange"),
        change(Transition.LOWERED, rule, down, "yellow", "red"),
        change(Transition.CLEARED, rule, cancel, None, "yellow"),
    ]


def test_a_warning_opened_in_a_batch_is_followed_by_the_next_message(
    watch: OfficialWarning,
) -> None:
    first = replace(watch, id="NWS-NEW", references=())
    worse = replace(watch, id="NWS-WORSE", references=("NWS-NEW",), severity="Extreme")
    rule = rule_id_for("NWS-NEW")
    assert decide("nws", [first, worse], {}, DEFAULT_LEVELS, NOW) == [
        change(Transition.OPENED, rule, first, "orange", None),
        change(Transition.RAISED, rule, worse, "red", "orange"),
    ]


def test_a_warning_the_source_says_is_no_longer_in_force_clears_before_it_expires(
    watch: OfficialWarning,
) -> None:
    ended = replace(watch, in_force=False)
    assert ended.expires is not None and ended.expires > NOW
    got = decide("nws", [ended], opened_at("orange", EARLIER), DEFAULT_LEVELS, NOW)
    assert got == [change(Transition.CLEARED, rule_id_for(EARLIER), ended, None, "orange")]


def test_a_warning_clears_at_the_instant_it_expires(watch: OfficialWarning) -> None:
    assert watch.expires is not None
    open_ = opened_at("orange", EARLIER)
    assert decide("nws", [watch], open_, DEFAULT_LEVELS, watch.expires - timedelta(seconds=1)) == [
        Reissued(rule_id_for(EARLIER), watch)
    ]
    got = decide("nws", [watch], open_, DEFAULT_LEVELS, watch.expires)
    assert got == [change(Transition.CLEARED, rule_id_for(EARLIER), watch, None, "orange")]


def test_the_environment_agencys_ended_and_active_warnings(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    # five areas no longer in force, then one Flood Alert (no expiry: EA gives none). Alerts are
    # open for two of the ended areas: those two clear; the other three are not news; the Flood
    # Alert opens an alert of its own
    http_server.serve("/flood-monitoring/id/floods", raw(fixtures_dir, "uk_ea/floods.json"))
    options = UkEaFeed.Options(base_url=http_server.url + "/flood-monitoring", warnings=True)
    now = datetime(2018, 10, 30, 13, 0, tzinfo=UTC)
    warnings = UkEaFeed("ea", options, context(tmp_path, now)).fetch_warnings(now)
    open_ = opened_at("yellow", "122WAC952") | opened_at("blue", "122WAC956")
    got = decide("ea", warnings, open_, DEFAULT_LEVELS, now)
    assert [(d.transition, d.external_id, d.level, d.previous) for d in got] == [  # type: ignore[union-attr]
        (Transition.CLEARED, "122WAC952", None, "yellow"),
        (Transition.CLEARED, "122WAC956", None, "blue"),
        (Transition.OPENED, "054WATBT2", "yellow", None),
    ]


def test_a_warnings_rule_id_is_stable_from_one_release_to_the_next() -> None:
    # stored alerts name it: a release that spelled it otherwise would orphan every open one
    assert rule_id_for("NWS-IDP-PROD-3965873-3369046") == "official:b46b43a1c8ca3beb"


def test_a_cancel_ends_the_warning_even_where_the_source_leaves_it_in_force(
    watch: OfficialWarning,
) -> None:
    cancel = replace(watch, id="NWS-CANCEL", references=(EARLIER,), msg_type="Cancel")
    assert cancel.in_force  # as a source that marks only expiry would give it
    rule = rule_id_for(EARLIER)
    got = decide("nws", [cancel], opened_at("orange", EARLIER), DEFAULT_LEVELS, NOW)
    assert got == [change(Transition.CLEARED, rule, cancel, None, "orange")]
