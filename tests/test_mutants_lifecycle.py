"""The alert lifecycle (alerts/lifecycle.py) on the real flood: a person sending an alert to the
next step at once, what the events of an acknowledgement and a retirement carry, and the errors
a person is shown.

Written for mutants that survived the rest of the suite (tests/README.md)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.store.models import AlertRow, EventRow, PageRow, RuleStateRow

from .helpers import demo_readings, write_config

FLOOD = demo_readings()
OPENED_AT = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)  # 15:30 EST, yellow
UP_TO_OPENING = [r for r in FLOOD if r.observed_at <= OPENED_AT]
STATION = "01589025"


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
    with pytest.raises(ValueError, match="unknown path 'pigeon'"):
        app.lifecycle.escalate_now(alert_id, "sun.hao", "pigeon", at)
    with pytest.raises(NotFound, match="unknown person 'nobody': not in the rosters"):
        app.lifecycle.escalate_now(alert_id, "nobody", "sms", at)
    with pytest.raises(NotFound, match="no alert #999"):
        app.lifecycle.escalate_now(999, "sun.hao", "sms", at)
    assert [role for role, _ in paged(app)] == ["officer", "officer"]  # nothing was paged
    end = FLOOD[-1].observed_at
    app.pipeline.ingest(FLOOD, end)  # the water falls: cleared
    assert the_alert(app).state == "cleared"
    with pytest.raises(FloodwatchError, match=f"alert #{alert_id} is cleared, not open"):
        app.lifecycle.escalate_now(alert_id, "sun.hao", "sms", end)
    with pytest.raises(FloodwatchError, match=f"alert #{alert_id} is cleared, not open"):
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
    tmp_path: Path, database_url: str
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
    with pytest.raises(ValueError, match="unknown path 'pigeon'"):
        app.lifecycle.clear(alert_id, "li.ming", "pigeon", at)
    with pytest.raises(NotFound, match="unknown person 'nobody': not in the rosters"):
        app.lifecycle.clear(alert_id, "nobody", "web", at)
    with pytest.raises(NotFound, match="no alert #999"):
        app.lifecycle.clear(999, "li.ming", "web", at)
    assert the_alert(app).state == "open" and events(app, "cleared") == []
    app.lifecycle.clear(alert_id, "li.ming", "web", at)
    with pytest.raises(FloodwatchError, match=f"alert #{alert_id} is cleared, not open"):
        app.lifecycle.clear(alert_id, "li.ming", "web", at)
    with app.db.transaction() as s:
        handover = s.get(AlertRow, alert_id)
        assert handover is not None
        handover.state, handover.rule_type = "open", "handover"
    own_desk = (
        f"alert #{alert_id} is a handover alert: it closes on its own desk "
        "(a village warning is cleared, a handover record confirmed)"
    )
    with pytest.raises(FloodwatchError, match=re.escape(own_desk)):
        app.lifecycle.clear(alert_id, "li.ming", "web", at)
