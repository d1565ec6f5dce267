"""The alert lifecycle on the real flood: levels and the peak, acknowledgement paths, roles with
nobody on duty, and alerts whose source a config edit removed (they are retired, never left to
break the ingest of other stations' readings)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.readings import Reading
from floodwatch.store.models import AlertRow, EventRow, LogEntryRow, PageRow, ReadingRow

from .helpers import demo_readings, write_config

FLOOD = demo_readings()
EST_1530 = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)  # the alert opens (yellow)
SILENT_STATION = {"id": "01589025", "name": "Patapsco", "expect_every": "15m"}
OTHER = {"id": "01585200", "name": "West Branch Herring Run"}


def build(tmp_path: Path, url: str, clock: SimulatedClock, **overrides: Any) -> App:
    app = build_app(write_config(tmp_path, **overrides), clock=clock, database_url=url)
    app.db.upgrade()
    return app


def events(app: App, type_: str) -> list[EventRow]:
    with app.db.sessions() as s:
        return list(s.scalars(select(EventRow).where(EventRow.type == type_).order_by(EventRow.id)))


def the_alert(app: App, rule_type: str = "threshold") -> AlertRow:
    with app.db.sessions() as s:
        return s.scalars(select(AlertRow).where(AlertRow.rule_type == rule_type)).one()


def test_the_peak_is_the_highest_level_reached_and_stays_when_the_water_falls(
    tmp_path: Path, database_url: str
) -> None:
    clock = SimulatedClock(FLOOD[0].observed_at)
    app = build(tmp_path, database_url, clock)
    peaks = []
    for r in FLOOD:  # one reading at a time, as a feed delivers them
        clock.set(r.observed_at)
        app.pipeline.ingest([r], clock.now())
        with app.db.sessions() as s:
            row = s.scalars(select(AlertRow)).first()
            if row is not None:
                peaks.append((row.level, row.peak_level, row.state))
    # yellow at 15:30, orange at 15:52, then lowered step by step and cleared
    assert peaks[0] == ("yellow", "yellow", "open")
    assert ("orange", "orange", "open") in peaks
    lowered = [p for p in peaks if p[2] == "open" and p[0] != p[1]]
    assert lowered and all(peak == "orange" for _, peak, _ in lowered)
    assert peaks[-1] == ("blue", "orange", "cleared")


def test_a_rise_after_an_acknowledgement_needs_a_fresh_one(
    tmp_path: Path, database_url: str
) -> None:
    clock = SimulatedClock(EST_1530)
    app = build(tmp_path, database_url, clock)
    app.pipeline.ingest([r for r in FLOOD if r.observed_at <= EST_1530], clock.now())
    alert = the_alert(app)
    app.lifecycle.acknowledge(alert.id, "sun.hao", "cli", clock.now())
    acked = the_alert(app)
    assert (acked.acknowledged_by, acked.acknowledged_via, acked.next_escalation_at) == (
        "sun.hao", "cli", None,
    )  # fmt: skip
    [event] = events(app, "acknowledged")
    assert event.data == {"by": "sun.hao", "role": "officer", "via": "cli", "pending": []}
    clock.set(EST_1530 + timedelta(minutes=30))
    app.pipeline.ingest([r for r in FLOOD if r.observed_at <= clock.now()], clock.now())
    raised = the_alert(app)
    assert raised.level == "orange"
    assert (raised.acknowledged_by, raised.acknowledged_via, raised.acknowledged_at) == (
        None, None, None,
    )  # fmt: skip
    assert raised.next_escalation_at == clock.now() + timedelta(minutes=15)
    # the officer who took the yellow alert on takes the orange one on too (he answered this
    # step before the rise: that answer does not stand for the higher level, nor bar a new one)
    again = clock.now() + timedelta(minutes=1)
    app.lifecycle.acknowledge(alert.id, "sun.hao", "sms", again)
    retaken = the_alert(app)
    assert (retaken.acknowledged_by, retaken.acknowledged_at, retaken.next_escalation_at) == (
        "sun.hao", again, None,
    )  # fmt: skip
    assert [(e.data["by"], e.data["via"]) for e in events(app, "acknowledged")] == [
        ("sun.hao", "cli"), ("sun.hao", "sms"),
    ]  # fmt: skip


def test_an_unknown_acknowledgement_path_is_refused(tmp_path: Path, database_url: str) -> None:
    clock = SimulatedClock(EST_1530)
    app = build(tmp_path, database_url, clock)
    app.pipeline.ingest([r for r in FLOOD if r.observed_at <= EST_1530], clock.now())
    with pytest.raises(ValueError, match="unknown acknowledgement path 'pigeon'"):
        app.lifecycle.acknowledge(the_alert(app).id, "sun.hao", "pigeon", clock.now())
    assert the_alert(app).acknowledged_at is None


def test_a_role_with_nobody_on_duty_is_recorded(tmp_path: Path, database_url: str) -> None:
    clock = SimulatedClock(EST_1530)
    app = build(
        tmp_path, database_url, clock,
        escalation={"default": {"steps": [{"notify": ["officer", "leader"]}]}},
        rosters=[str(_roster_without_leaders(tmp_path))],
    )  # fmt: skip
    result = app.pipeline.ingest([r for r in FLOOD if r.observed_at <= EST_1530], clock.now())
    assert result.pages == 1  # the one officer; nobody holds the leader's shift that night
    [nobody] = events(app, "nobody_on_duty")
    assert (nobody.station, nobody.level, nobody.data) == ("01589025", "yellow", {"role": "leader"})


def _roster_without_leaders(tmp_path: Path) -> Path:
    path = tmp_path / "roster.yaml"
    path.write_text(
        """\
version: 1
timezone: Asia/Shanghai
people:
  - {id: li.ming, name: 李明}
  - {id: chen.jing, name: 陈静}
roles:
  - {id: leader, name: 带班领导}
  - {id: officer, name: 值班员}
rotations:
  - {role: officer, members: [chen.jing], anchor: 2018-05-01}
  - {role: leader, members: [li.ming], anchor: 2018-05-01}
unavailable:
  - {person: li.ming, from: 2018-05-20, to: 2018-06-10, reason: 出差}
""",
        encoding="utf-8",
    )
    return path


def test_a_silence_alert_for_a_station_removed_from_the_config_loses_no_reading(
    tmp_path: Path, database_url: str
) -> None:
    # bug (issue 7b): an assert failed inside the ingest transaction, and every batch holding
    # that station rolled back, losing the other stations' readings with it
    clock = SimulatedClock(FLOOD[0].observed_at)
    before = build(tmp_path, database_url, clock, stations=[SILENT_STATION, OTHER])
    first = [r for r in FLOOD if r.observed_at <= FLOOD[0].observed_at + timedelta(hours=1)]
    before.pipeline.ingest(first, clock.now())
    clock.set(first[-1].observed_at + timedelta(hours=1))
    before.pipeline.tick(clock.now())
    assert the_alert(before, "silence").state == "open"
    before.db.dispose()

    # the station is edited out of the config (its rule with it), and the service restarted
    after = build(tmp_path, database_url, clock, stations=[OTHER], rules=[])
    back = FLOOD[len(first)]
    other = Reading("01585200", "stage", 3.2, "ft", back.observed_at)
    result = after.pipeline.ingest([back, other], clock.now())
    assert (result.stored, result.changes) == (2, 1)
    with after.db.sessions() as s:
        stored = set(s.execute(select(ReadingRow.station, ReadingRow.observed_at)).all())
    assert {("01589025", back.observed_at), ("01585200", back.observed_at)} <= stored
    assert the_alert(after, "silence").state == "cleared"


def test_alerts_whose_rule_or_station_left_the_config_are_retired_with_the_reason(
    tmp_path: Path, database_url: str
) -> None:
    clock = SimulatedClock(EST_1530)
    before = build(tmp_path, database_url, clock, stations=[SILENT_STATION])
    before.pipeline.ingest([r for r in FLOOD if r.observed_at <= EST_1530], clock.now())
    clock.set(EST_1530 + timedelta(hours=1))
    before.pipeline.tick(clock.now())  # silent for an hour: a data alert too
    assert {a.state for a in _alerts(before)} == {"open"} and len(_alerts(before)) == 2
    before.db.dispose()

    after = build(tmp_path, database_url, clock, stations=[OTHER], rules=[])
    after.pipeline.tick(clock.now())
    assert {(a.rule_type, a.state) for a in _alerts(after)} == {
        ("threshold", "retired"), ("silence", "retired"),
    }  # fmt: skip
    reasons = {e.data["reason"] for e in events(after, "retired")}
    assert reasons == {
        "rule 'patapsco-stage' for station '01589025' is no longer in the config",
        "station '01589025' is no longer watched for silence (expect_every)",
    }
    retired = [e.id for e in events(after, "retired")]
    with after.db.sessions() as s:
        log = [e.kind for e in s.scalars(select(LogEntryRow))]
        told = s.scalars(select(PageRow.body).where(PageRow.event_id.in_(retired))).all()
    assert [k for k in log if k == "alert_retired"] == ["alert_retired", "alert_retired"]
    # everyone paged so far about each alert hears it is closed
    assert told and all("告警关闭" in b or "Alert closed" in b for b in told)
    # retired alerts neither escalate nor come back
    assert after.lifecycle.escalate(clock.now() + timedelta(days=1)) == 0
    assert after.pipeline.tick(clock.now() + timedelta(days=1)) == 0


def test_an_alert_whose_policy_left_the_config_is_retired_not_a_crash(
    tmp_path: Path, database_url: str
) -> None:
    clock = SimulatedClock(EST_1530)
    custom = {"steps": [{"notify": ["officer"]}, {"after": "15m", "notify": ["leader"]}]}
    rule = {"id": "patapsco-stage", "station": "01589025", "parameter": "stage", "unit": "ft",
            "levels": [{"level": "yellow", "value": 20}], "escalation": "river"}  # fmt: skip
    before = build(tmp_path, database_url, clock, rules=[rule],
                   escalation={"default": custom, "river": custom})  # fmt: skip
    before.pipeline.ingest([r for r in FLOOD if r.observed_at <= EST_1530], clock.now())
    before.db.dispose()
    rule["escalation"] = "default"
    after = build(tmp_path, database_url, clock, rules=[rule], escalation={"default": custom})
    assert after.lifecycle.escalate(clock.now() + timedelta(minutes=15)) == 0
    alert = the_alert(after)
    assert alert.state == "retired"
    [retired] = events(after, "retired")
    assert retired.data["reason"] == "escalation policy 'river' is no longer in the config"


def _alerts(app: App) -> list[AlertRow]:
    with app.db.sessions() as s:
        return list(s.scalars(select(AlertRow).order_by(AlertRow.id)))


def test_pages_written_call_the_hook_once_per_commit(tmp_path: Path, database_url: str) -> None:
    clock = SimulatedClock(EST_1530)
    app = build(tmp_path, database_url, clock)
    calls: list[int] = []

    def count() -> None:
        with app.db.sessions() as s:  # called after the commit: the pages are visible
            calls.append(s.scalar(select(func.count(PageRow.id))) or 0)

    app.pages_written.connect(count)
    app.pipeline.ingest([r for r in FLOOD if r.observed_at < EST_1530], clock.now())
    assert calls == []  # nothing paged, nobody woken
    app.pipeline.ingest([r for r in FLOOD if r.observed_at <= EST_1530], clock.now())
    assert calls == [2]
    app.lifecycle.escalate(clock.now() + timedelta(minutes=15))
    assert calls == [2, 3]
