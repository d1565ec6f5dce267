"""The alert lifecycle (alerts/lifecycle.py) on the real flood: a person sending an alert to the
next step at once, what the events of an acknowledgement and a retirement carry, and the errors
a person is shown.

Written for mutants that survived the rest of the suite (tests/README.md)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from floodwatch.alerts.changes import Change, Transition
from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.store.models import AlertRow, EventRow, PageRow, RuleStateRow

from .helpers import DEMO_CONFIG, demo_readings, log_lines, write_config

FLOOD = demo_readings()
OPENED_AT = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)  # 15:30 EST, yellow
UP_TO_OPENING = [r for r in FLOOD if r.observed_at <= OPENED_AT]
STATION = "01589025"


@contextmanager
def refused(kind: type[Exception], text: str) -> Iterator[None]:
    """The block raises `kind` saying exactly `text` (what the person is shown)."""
    with pytest.raises(kind) as caught:
        yield
    assert str(caught.value) == text


def opened(tmp_path: Path, database_url: str, **overrides: object) -> App:
    """The demo config; the flood up to the alert's opening (both officers paged)."""
    app = build_app(write_config(tmp_path, **overrides), clock=SimulatedClock(OPENED_AT),
                    database_url=database_url)  # fmt: skip
    app.db.upgrade()
    assert app.pipeline.ingest(UP_TO_OPENING, OPENED_AT).pages == 2
    return app


def the_alert(app: App) -> AlertRow:
    with app.db.sessions() as s:
        return s.scalars(select(AlertRow)).one()


def events(app: App, type_: str) -> list[EventRow]:
    with app.db.sessions() as s:
        return list(s.scalars(select(EventRow).where(EventRow.type == type_).order_by(EventRow.id)))


def paged(app: App) -> list[tuple[str | None, str]]:
    with app.db.sessions() as s:
        return [(role, person) for role, person in s.execute(
            select(PageRow.role, PageRow.person).order_by(PageRow.id))]  # fmt: skip


def test_a_person_sends_the_alert_to_the_next_step_at_once(
    tmp_path: Path, database_url: str
) -> None:
    # five minutes in, the officer asks for the leader (an SMS "3e", keypress 2, the web button)
    app = opened(tmp_path, database_url)
    woken: list[int] = []
    app.pages_written.connect(lambda: woken.append(1))
    at = OPENED_AT + timedelta(minutes=5)
    assert app.lifecycle.escalate_now(the_alert(app).id, "sun.hao", "sms", at) == 1
    assert woken == [1]  # the dispatcher is told at once
    assert [role for role, _ in paged(app)] == ["officer", "officer", "leader"]
    alert = the_alert(app)
    # at the last step now: the leader is called again an hour (repeat_every) after this page,
    # and the step that was due at 15:45 is not paged a second time
    assert (alert.escalation_step, alert.next_escalation_at) == (1, at + timedelta(hours=1))
    assert alert.updated_at == at
    [escalated] = events(app, "escalated")
    assert (escalated.alert_id, escalated.station, escalated.level) == (alert.id, STATION, "yellow")
    assert escalated.data == {"step": 1, "repeat": False, "by": "sun.hao"}
    assert app.lifecycle.escalate(OPENED_AT + timedelta(minutes=15)) == 0


def test_at_the_last_step_the_last_step_is_paged_again(tmp_path: Path, database_url: str) -> None:
    app = opened(tmp_path, database_url)
    alert_id = the_alert(app).id
    at = OPENED_AT + timedelta(minutes=20)
    assert app.lifecycle.escalate(OPENED_AT + timedelta(minutes=15)) == 1  # the leader
    assert app.lifecycle.escalate_now(alert_id, "sun.hao", "web", at) == 1  # the leader again
    [_, again] = events(app, "escalated")
    assert again.data == {"step": 1, "repeat": True, "by": "sun.hao"}
    assert the_alert(app).next_escalation_at == at + timedelta(hours=1)


def test_after_an_acknowledgement_sending_on_pages_but_schedules_nothing(
    tmp_path: Path, database_url: str
) -> None:
    app = opened(tmp_path, database_url)
    alert_id = the_alert(app).id
    app.lifecycle.acknowledge(alert_id, "sun.hao", "cli", OPENED_AT + timedelta(minutes=1))
    assert (
        app.lifecycle.escalate_now(alert_id, "sun.hao", "sms", OPENED_AT + timedelta(minutes=2))
        == 1
    )
    alert = the_alert(app)
    assert (alert.escalation_step, alert.next_escalation_at) == (1, None)
    assert alert.acknowledged_by == "sun.hao"  # still acknowledged


def test_sending_on_is_refused_with_a_reason(tmp_path: Path, database_url: str) -> None:
    app = opened(tmp_path, database_url)
    alert_id = the_alert(app).id
    at = OPENED_AT + timedelta(minutes=1)
    with refused(ValueError, "unknown path 'pigeon'"):
        app.lifecycle.escalate_now(alert_id, "sun.hao", "pigeon", at)
    with refused(NotFound, "unknown person 'nobody': not in the rosters"):
        app.lifecycle.escalate_now(alert_id, "nobody", "sms", at)
    with refused(NotFound, "no alert #999"):
        app.lifecycle.escalate_now(999, "sun.hao", "sms", at)
    assert [role for role, _ in paged(app)] == ["officer", "officer"]  # nothing was paged
    end = FLOOD[-1].observed_at
    app.pipeline.ingest(FLOOD, end)  # the water falls: cleared
    assert the_alert(app).state == "cleared"
    with refused(FloodwatchError, f"alert #{alert_id} is cleared, not open"):
        app.lifecycle.escalate_now(alert_id, "sun.hao", "sms", end)
    with refused(FloodwatchError, f"alert #{alert_id} is cleared, not open"):
        app.lifecycle.acknowledge(alert_id, "sun.hao", "sms", end)
    assert events(app, "escalated") == [] and events(app, "acknowledged") == []


def test_an_acknowledgement_names_the_alert_its_station_and_level(
    tmp_path: Path, database_url: str
) -> None:
    app = opened(tmp_path, database_url)
    alert = the_alert(app)
    app.lifecycle.acknowledge(alert.id, "sun.hao", "voice", OPENED_AT + timedelta(minutes=3))
    [ack] = events(app, "acknowledged")
    assert (ack.alert_id, ack.station, ack.level) == (alert.id, STATION, "yellow")
    assert (ack.data["by"], ack.data["via"]) == ("sun.hao", "voice")


def test_a_retirement_names_the_alert_its_station_level_and_rule(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = opened(tmp_path, database_url)
    alert = the_alert(before)
    before.db.dispose()
    # the gauge and its rule are edited out of the config, and the service restarted
    other = {"id": "01585200", "name": "West Branch Herring Run"}
    after = build_app(write_config(tmp_path, stations=[other], rules=[]),
                      clock=SimulatedClock(OPENED_AT), database_url=database_url)  # fmt: skip
    after.pipeline.tick(OPENED_AT + timedelta(minutes=1))
    [retired] = events(after, "retired")
    assert (retired.alert_id, retired.station, retired.level) == (alert.id, STATION, "yellow")
    assert retired.data == {
        "rule": "patapsco-stage",
        "reason": "rule 'patapsco-stage' for station '01589025' is no longer in the config",
    }
    assert lifecycle_log(caplog) == [
        f"alert #{alert.id} retired: rule 'patapsco-stage' for station '01589025' is no longer "
        "in the config"
    ]


def test_a_leader_clearing_an_alert_closes_it_tells_those_paged_and_starts_its_rule_again(
    tmp_path: Path, database_url: str
) -> None:
    # a stuck gauge: the leader declares the alert over by hand (the console's button)
    app = opened(tmp_path, database_url)
    alert_id = the_alert(app).id
    at = OPENED_AT + timedelta(minutes=4)
    woken: list[int] = []
    app.pages_written.connect(lambda: woken.append(1))
    assert app.lifecycle.clear(alert_id, "li.ming", "web", at).state == "cleared"
    alert = the_alert(app)
    assert (alert.state, alert.cleared_at, alert.updated_at) == ("cleared", at, at)
    assert alert.next_escalation_at is None and app.lifecycle.next_escalation() is None
    [cleared] = events(app, "cleared")
    assert (cleared.alert_id, cleared.station, cleared.level) == (alert_id, STATION, None)
    assert cleared.data == {
        "from": "yellow", "value": alert.value, "unit": "ft", "rule": "patapsco-stage",
        "rule_type": "threshold", "observed_at": None, "detail": {"by": "li.ming", "via": "web"},
    }  # fmt: skip
    # both officers paged when it opened are told, once, and the dispatcher woken
    opening, told = paged(app)[:2], paged(app)[2:]
    assert told == opening == [("officer", "sun.hao"), ("officer", "zhou.min")]
    assert woken == [1]
    with app.db.sessions() as s:
        state = s.scalars(select(RuleStateRow).where(RuleStateRow.rule_id == alert.rule_id)).one()
    assert (state.level, state.below_since) == (None, None)
    # the water still at yellow: the next reading opens a new alert
    nxt = next(r for r in FLOOD if r.observed_at > OPENED_AT)
    app.pipeline.ingest([nxt], nxt.observed_at)
    with app.db.sessions() as s:
        states = s.scalars(select(AlertRow.state).order_by(AlertRow.id)).all()
    assert states == ["cleared", "open"]


def test_clearing_is_refused_with_a_reason(tmp_path: Path, database_url: str) -> None:
    app = opened(tmp_path, database_url)
    alert_id = the_alert(app).id
    at = OPENED_AT + timedelta(minutes=1)
    with refused(ValueError, "unknown path 'pigeon'"):
        app.lifecycle.clear(alert_id, "li.ming", "pigeon", at)
    with refused(NotFound, "unknown person 'nobody': not in the rosters"):
        app.lifecycle.clear(alert_id, "nobody", "web", at)
    with refused(NotFound, "no alert #999"):
        app.lifecycle.clear(999, "li.ming", "web", at)
    assert the_alert(app).state == "open" and events(app, "cleared") == []
    app.lifecycle.clear(alert_id, "li.ming", "web", at)
    with refused(FloodwatchError, f"alert #{alert_id} is cleared, not open"):
        app.lifecycle.clear(alert_id, "li.ming", "web", at)
    with app.db.transaction() as s:
        handover = s.get(AlertRow, alert_id)
        assert handover is not None
        handover.state, handover.rule_type = "open", "handover"
    own_desk = (
        f"alert #{alert_id} is a handover alert: it closes on its own desk "
        "(a village warning is cleared, a handover record confirmed)"
    )
    with refused(FloodwatchError, own_desk):
        app.lifecycle.clear(alert_id, "li.ming", "web", at)


# -- a level with a policy of its own, and a step that everyone must answer -----------------------

RAISED_AT = FLOOD[0].observed_at + timedelta(hours=15, minutes=52)  # 16:52 EST, 27.16 ft: orange
# the README's shape: orange has a policy of its own, whose first step both officers must answer;
# a policy nobody uses comes first (a lookup by a wrong name would fall back to it)
OWN_ORANGE: dict[str, object] = {
    "levels": [
        {"id": "blue", "name_zh": "蓝色", "name_en": "Blue", "grade": "IV", "cap_severity": "Minor"},
        {"id": "yellow", "name_zh": "黄色", "name_en": "Yellow", "grade": "III",
         "cap_severity": "Moderate"},
        {"id": "orange", "name_zh": "橙色", "name_en": "Orange", "grade": "II",
         "cap_severity": "Severe", "escalation": "orange"},
        {"id": "red", "name_zh": "红色", "name_en": "Red", "grade": "I", "cap_severity": "Extreme"},
    ],
    "escalation": {
        "quiet": {"steps": [{"people": ["li.ming"]}]},
        "default": {"steps": [{"notify": ["officer"]}, {"after": "15m", "notify": ["leader"]}],
                    "repeat_every": "1h"},
        "orange": {"steps": [{"notify": ["officer"], "ack": "all"},
                             {"after": "5m", "notify": ["leader"]},
                             {"after": "10m", "people": ["li.ming"]}],
                   "repeat_every": "10m"},
    },
}  # fmt: skip


def demo_rules() -> list[dict[str, object]]:
    rules: list[dict[str, object]] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))[
        "rules"
    ]
    return rules


def own_orange(tmp_path: Path, database_url: str, until: datetime) -> App:
    """The flood, reading by reading with the escalation tick between, up to `until`."""
    app = build_app(write_config(tmp_path, **OWN_ORANGE), clock=SimulatedClock(FLOOD[0].observed_at),
                    database_url=database_url)  # fmt: skip
    app.db.upgrade()
    for r in FLOOD:
        if r.observed_at > until:
            break
        app.lifecycle.escalate(r.observed_at)
        app.pipeline.ingest([r], r.observed_at)
    return app


def paged_at_steps(app: App) -> list[tuple[str, str | None, int | None]]:
    with app.db.sessions() as s:
        rows = s.execute(select(PageRow.person, PageRow.role, PageRow.step).order_by(PageRow.id))
        return [(person, role, step) for person, role, step in rows]


def lifecycle_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return log_lines(caplog, "floodwatch.alerts.lifecycle")


def test_a_rise_to_a_level_with_a_policy_of_its_own_starts_it_and_tells_those_told_so_far(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="floodwatch.alerts.lifecycle")
    app = own_orange(tmp_path, database_url, RAISED_AT)
    alert = the_alert(app)
    assert paged_at_steps(app) == [
        ("sun.hao", "officer", 0), ("zhou.min", "officer", 0),  # 15:30 yellow, default policy
        ("wang.fang", "leader", 1),  # 15:45, nobody answered
        # 16:52 orange: its own policy's first step, and the leader told so far (no step)
        ("sun.hao", "officer", 0), ("zhou.min", "officer", 0), ("wang.fang", "leader", None),
    ]  # fmt: skip
    assert (alert.policy, alert.escalation_step, alert.next_escalation_at) == (
        "orange", 0, RAISED_AT + timedelta(minutes=5),
    )  # fmt: skip
    assert (alert.level, alert.peak_level, alert.value) == ("orange", "orange", 27.16)
    [opening] = events(app, "opened")
    [rise] = events(app, "raised")
    rule = {"unit": "ft", "rule": "patapsco-stage", "rule_type": "threshold", "detail": {}}
    assert (opening.alert_id, opening.station, opening.level) == (alert.id, STATION, "yellow")
    assert opening.data == {
        "from": None, "value": 20.63, "observed_at": "2018-05-27T20:30:00+00:00", **rule,
    }  # fmt: skip
    assert (rise.alert_id, rise.station, rise.level) == (alert.id, STATION, "orange")
    assert rise.data == {
        "from": "yellow", "value": 27.16, "observed_at": "2018-05-27T20:52:00+00:00", **rule,
    }  # fmt: skip
    assert lifecycle_log(caplog) == [
        f"alert #{alert.id} opened: {STATION} - -> yellow at 20.63 ft",
        f"alert #{alert.id} escalated to step 1",
        f"alert #{alert.id} raised: {STATION} yellow -> orange at 27.16 ft",
    ]
    # its own policy from here: the leader after 5 minutes, the office head after 10 more
    assert app.lifecycle.escalate(RAISED_AT + timedelta(minutes=5)) == 1
    assert app.lifecycle.escalate(RAISED_AT + timedelta(minutes=15)) == 1
    assert paged_at_steps(app)[6:] == [("wang.fang", "leader", 1), ("li.ming", "named", 2)]
    assert [(e.alert_id, e.station, e.level, e.data) for e in events(app, "escalated")] == [
        (alert.id, STATION, "yellow", {"step": 1, "repeat": False, "by": None}),
        (alert.id, STATION, "orange", {"step": 1, "repeat": False, "by": None}),
        (alert.id, STATION, "orange", {"step": 2, "repeat": False, "by": None}),
    ]
    assert the_alert(app).next_escalation_at == RAISED_AT + timedelta(minutes=25)


def test_a_step_that_all_must_answer_waits_for_each_one_paged(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = own_orange(tmp_path, database_url, RAISED_AT)
    alert_id = the_alert(app).id
    called: list[tuple[object, int, str, str, datetime]] = []
    app.lifecycle.on_acknowledged = (
        lambda s, a, by, via, now: called.append((s, a.id, by, via, now)),
    )
    caplog.set_level(logging.INFO, logger="floodwatch.alerts.lifecycle")
    first = RAISED_AT + timedelta(minutes=1)
    app.lifecycle.acknowledge(alert_id, "sun.hao", "sms", first)
    alert = the_alert(app)
    assert (alert.acknowledged_at, alert.acknowledged_by) == (None, None)
    assert alert.next_escalation_at == RAISED_AT + timedelta(minutes=5)  # still running
    assert called == []
    with refused(FloodwatchError, f"sun.hao has already answered alert #{alert_id}"):
        app.lifecycle.acknowledge(alert_id, "sun.hao", "voice", first)
    # both officers of the step answer: done. The leader, told of the rise (he was paged in
    # the earlier policy), is not one of the step: his answer is not waited for
    last = first + timedelta(minutes=1)
    app.lifecycle.acknowledge(alert_id, "zhou.min", "voice", last)
    alert = the_alert(app)
    assert (alert.acknowledged_at, alert.acknowledged_by, alert.acknowledged_via) == (
        last, "zhou.min", "voice",
    )  # fmt: skip
    assert alert.next_escalation_at is None
    assert app.lifecycle.escalate(RAISED_AT + timedelta(minutes=5)) == 0  # the leader not called
    [(session, *rest)] = called
    assert isinstance(session, Session) and rest == [alert_id, "zhou.min", "voice", last]
    assert [(e.data["by"], e.data["role"], e.data["pending"]) for e in events(app, "acknowledged")] == [
        ("sun.hao", "officer", ["zhou.min"]),
        ("zhou.min", "officer", []),
    ]  # fmt: skip
    assert lifecycle_log(caplog) == [
        f"alert #{alert_id} answered by sun.hao (sms); still to answer: zhou.min",
        f"alert #{alert_id} answered by zhou.min (voice)",
    ]


def test_an_answer_counts_for_the_step_it_was_given_in(tmp_path: Path, database_url: str) -> None:
    app = own_orange(tmp_path, database_url, RAISED_AT)
    alert_id = the_alert(app).id
    app.lifecycle.acknowledge(alert_id, "sun.hao", "sms", RAISED_AT + timedelta(minutes=1))
    assert app.lifecycle.escalate(RAISED_AT + timedelta(minutes=5)) == 1  # the leader, step 1
    # step 1 is answered by anyone: sun.hao's answer of step 0 does not stand in for it, and he
    # may answer again
    at = RAISED_AT + timedelta(minutes=6)
    app.lifecycle.acknowledge(alert_id, "sun.hao", "sms", at)
    alert = the_alert(app)
    assert (alert.escalation_step, alert.acknowledged_at, alert.acknowledged_by) == (
        1, at, "sun.hao",
    )  # fmt: skip
    [_, second] = events(app, "acknowledged")
    assert second.data["pending"] == []


def test_a_step_that_all_must_answer_after_the_first_counts_only_its_own_pages(
    tmp_path: Path, database_url: str
) -> None:
    # the officers first, then the leader and the office head, both of whom must answer
    policy = {"steps": [{"notify": ["officer"]},
                        {"after": "15m", "notify": ["leader"], "people": ["li.ming"], "ack": "all"}]}  # fmt: skip
    app = opened(tmp_path, database_url, escalation={"default": policy})
    alert_id = the_alert(app).id
    assert app.lifecycle.escalate(OPENED_AT + timedelta(minutes=15)) == 2
    at = OPENED_AT + timedelta(minutes=16)
    app.lifecycle.acknowledge(alert_id, "wang.fang", "sms", at)
    [ack] = events(app, "acknowledged")
    assert ack.data["pending"] == ["li.ming"]  # the officers of step 0 are not waited for
    app.lifecycle.acknowledge(alert_id, "li.ming", "web", at)
    assert the_alert(app).acknowledged_by == "li.ming"
    # li.ming is named in the step, not on duty: no role
    assert events(app, "acknowledged")[1].data["role"] is None


def test_a_policy_shortened_since_the_alert_reached_a_later_step(
    tmp_path: Path, database_url: str
) -> None:
    app = opened(tmp_path, database_url)
    alert_id = the_alert(app).id
    assert app.lifecycle.escalate(OPENED_AT + timedelta(minutes=15)) == 1  # step 1, the leader
    app.db.dispose()
    # the leader's step is edited out, and the service restarted: the alert is at step 1 of a
    # policy that has only step 0 now; an answer is still taken (by the last step's rule)
    short = {"default": {"steps": [{"notify": ["officer"], "ack": "all"}]}}
    after = build_app(write_config(tmp_path, escalation=short), clock=SimulatedClock(OPENED_AT),
                      database_url=database_url)  # fmt: skip
    at = OPENED_AT + timedelta(minutes=20)
    after.lifecycle.acknowledge(alert_id, "wang.fang", "web", at)
    assert the_alert(after).acknowledged_by == "wang.fang"


def test_sending_on_and_clearing_say_who_in_the_log_and_page_the_step(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = opened(tmp_path, database_url)
    alert_id = the_alert(app).id
    caplog.set_level(logging.INFO, logger="floodwatch.alerts.lifecycle")
    at = OPENED_AT + timedelta(minutes=2)
    assert app.lifecycle.escalate_now(alert_id, "sun.hao", "sms", at) == 1
    assert paged_at_steps(app)[2] == ("wang.fang", "leader", 1)
    app.lifecycle.clear(alert_id, "wang.fang", "web", at)
    assert lifecycle_log(caplog) == [
        f"alert #{alert_id} escalated to step 1 at once by sun.hao (sms)",
        f"alert #{alert_id} cleared by hand by wang.fang (web)",
    ]


def test_a_clear_while_the_water_falls_within_the_hold_starts_the_rule_afresh(
    tmp_path: Path, database_url: str
) -> None:
    app = opened(tmp_path, database_url)
    alert = the_alert(app)
    with app.db.transaction() as s:  # below the deadband since 15:00, within the hour's hold
        s.execute(
            update(RuleStateRow).where(RuleStateRow.rule_id == alert.rule_id)
            .values(below_since=OPENED_AT - timedelta(minutes=30))
        )  # fmt: skip
    app.lifecycle.clear(alert.id, "wang.fang", "web", OPENED_AT + timedelta(minutes=1))
    with app.db.sessions() as s:
        state = s.scalars(select(RuleStateRow).where(RuleStateRow.rule_id == alert.rule_id)).one()
    assert (state.level, state.below_since) == (None, None)


def test_an_alert_whose_policy_left_the_config_is_cleared_without_telling_anyone(
    tmp_path: Path, database_url: str
) -> None:
    app = opened(tmp_path, database_url)
    alert_id = the_alert(app).id
    app.db.dispose()
    renamed = {"river": {"steps": [{"notify": ["officer"]}]}}
    rules = [{**rule, "escalation": "river"} for rule in demo_rules()]
    after = build_app(write_config(tmp_path, escalation=renamed, rules=rules, silence={"escalation": "river"}),
                      clock=SimulatedClock(OPENED_AT), database_url=database_url)  # fmt: skip
    after.lifecycle.clear(alert_id, "wang.fang", "web", OPENED_AT + timedelta(minutes=1))
    assert the_alert(after).state == "cleared"
    assert len(paged(after)) == 2  # whom it reached is not known any more: nobody more paged


def test_an_alert_under_a_policy_no_config_has_follows_the_first_and_says_so(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = opened(tmp_path, database_url)
    alert_id = the_alert(app).id
    with app.db.transaction() as s:  # a policy name no config has (a hand-edited database)
        s.execute(update(AlertRow).values(policy="gone"))
    app.lifecycle.escalate_now(alert_id, "sun.hao", "web", OPENED_AT + timedelta(minutes=1))
    assert "escalation policy 'gone' is not configured; using 'default'" in lifecycle_log(caplog)
    assert paged_at_steps(app)[2] == ("wang.fang", "leader", 1)  # the default's next step


def test_an_acknowledgement_by_someone_not_on_duty_has_no_role(
    tmp_path: Path, database_url: str
) -> None:
    app = opened(tmp_path, database_url)
    app.lifecycle.acknowledge(the_alert(app).id, "li.ming", "web", OPENED_AT)
    [ack] = events(app, "acknowledged")
    assert ack.data == {"by": "li.ming", "role": None, "via": "web", "pending": []}


def test_a_change_that_does_not_fit_the_stored_alerts_is_ignored_and_logged(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = opened(tmp_path, database_url)
    alert = the_alert(app)
    at = OPENED_AT + timedelta(minutes=1)
    again = Change(Transition.OPENED, "threshold", alert.rule_id, STATION, "stage", "default",
                   "orange", None, 26.0, "ft", at)  # fmt: skip
    levelless = [
        Change(Transition.OPENED, "threshold", "other", STATION, "stage", "default", None, None,
               26.0, "ft", at),
        Change(Transition.RAISED, "threshold", alert.rule_id, STATION, "stage", "default", None,
               "yellow", 26.0, "ft", at),
    ]  # fmt: skip
    with app.db.transaction() as s:
        assert [app.lifecycle.apply(s, c, at) for c in [again, *levelless]] == [0, 0, 0]
    assert lifecycle_log(caplog) == [
        f"rule patapsco-stage: opened while alert #{alert.id} is open; ignored",
        "rule other: opened without a level; ignored",
        "rule patapsco-stage: raised without a level; ignored",
    ]
    with app.db.sessions() as s:
        assert s.scalars(select(AlertRow.level)).all() == ["yellow"]  # nothing else opened


def test_an_official_alert_follows_the_message_in_force(tmp_path: Path, database_url: str) -> None:
    app = opened(tmp_path, database_url)
    at = OPENED_AT + timedelta(minutes=1)
    warning = Change(Transition.OPENED, "official", "official:1", "nws", "Flood Warning",
                     "default", "orange", None, 0.0, "", at, {}, "NWS-1")  # fmt: skip
    changes = [
        warning,
        Change(Transition.RAISED, "official", "official:1", "nws", "Flood Warning", "default",
               "red", "orange", 0.0, "", at, {}, "NWS-2"),
        Change(Transition.LOWERED, "official", "official:1", "nws", "Flood Warning", "default",
               "orange", "red", 0.0, "", at, {}, None),  # a change that names no message
    ]  # fmt: skip
    held = []
    for change in changes:
        with app.db.transaction() as s:
            app.lifecycle.apply(s, change, at)
        with app.db.sessions() as s:
            held.append(
                s.scalars(select(AlertRow.external_id).where(AlertRow.station == "nws")).one()
            )
    assert held == ["NWS-1", "NWS-2", "NWS-2"]


def test_the_water_falling_away_clears_the_alert_when_it_does(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = opened(tmp_path, database_url)
    caplog.set_level(logging.INFO, logger="floodwatch.alerts.lifecycle")
    end = FLOOD[-1].observed_at
    app.pipeline.ingest(FLOOD, end)
    alert = the_alert(app)
    assert (alert.state, alert.cleared_at, alert.next_escalation_at) == ("cleared", end, None)
    assert (alert.level, alert.peak_level) == ("blue", "orange")
    [cleared] = events(app, "cleared")
    assert (cleared.level, cleared.data["from"]) == (None, "blue")
    assert lifecycle_log(caplog)[-1] == (
        f"alert #{alert.id} cleared: {STATION} blue -> - at {cleared.data['value']:g} ft"
    )
