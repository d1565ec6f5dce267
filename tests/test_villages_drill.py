"""Drills (演练): the whole chain on the channels, every message marked, a real alert open at the
same station left alone, and the report at the end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import xmlschema
from sqlalchemy import select

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.errors import FloodwatchError
from floodwatch.store.models import AlertRow, EventRow, PageRow

from .conftest import FIXTURES
from .helpers import TOWNSHIP_ROSTER, demo_readings, fw, pages_in, write_config
from .villages_support import DEMO_VILLAGES, VILLAGE_ROSTER

FLOOD = demo_readings()
EST_1530 = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)


def config(tmp_path: Path) -> Path:
    """The demo's villages, their loudspeakers on a broker that is down (the drill reports it),
    every page to a file."""
    villages = DEMO_VILLAGES.read_text(encoding="utf-8").replace("village-speakers", "speakers")
    (tmp_path / "villages.yaml").write_text(villages, encoding="utf-8")
    return write_config(
        tmp_path, rosters=[str(TOWNSHIP_ROSTER), str(VILLAGE_ROSTER)], villages=["villages.yaml"],
        notifiers=[
            {"name": "file", "type": "jsonl", "path": "pages.jsonl"},
            {"name": "speakers", "type": "broadcast_mqtt", "port": 9, "timeout": "0.2s"},
        ],
        delivery={"max_attempts": 1},
        cap={"sender": "fxb@shifan.example.cn", "languages": ["zh-CN", "en"]},
    )  # fmt: skip


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    clock = SimulatedClock(EST_1530 - timedelta(minutes=30))
    built = build_app(config(tmp_path), clock=clock)
    built.db.upgrade()
    yield built
    built.db.dispose()


def test_a_drill_runs_beside_a_real_alert_marks_every_message_and_reports(
    app: App, tmp_path: Path
) -> None:
    clock: SimulatedClock = app.clock  # type: ignore[assignment]
    dispatcher = app.dispatcher("test")
    # a real flood is on: the river's alert is open and the villages are warned for real
    app.pipeline.ingest([r for r in FLOOD if r.observed_at <= EST_1530], EST_1530)
    clock.set(EST_1530)
    dispatcher.deliver_due(EST_1530)
    with app.db.sessions() as s:
        real = {a.id: (a.state, a.level, a.escalation_step) for a in s.scalars(select(AlertRow))}
    real_pages = len(pages_in(tmp_path / "pages.jsonl"))

    drill = app.drills.start("orange", "01589025", [], "li.ming", clock.now())
    assert drill.villages == {"villages": ["hekou", "liulin"]}  # those that watch the station
    with pytest.raises(FloodwatchError, match=f"drill #{drill.id} is running"):
        app.drills.start("red", "01589025", [], "li.ming", clock.now())
    dispatcher.deliver_due(clock.now())
    # a responsible person answers the drill by the one acknowledgement path
    with app.db.sessions() as s:
        rounds = {a.station: a.id for a in s.scalars(select(AlertRow).where(
            AlertRow.rule_type == "drill", AlertRow.parameter == "evacuation"))}  # fmt: skip
    clock.advance(timedelta(minutes=3))
    app.lifecycle.acknowledge(rounds["hekou"], "zhang.jianguo", "web", clock.now())
    app.village_desk.moved("hekou", 20, 61, "zhang.jianguo", "cli", clock.now(), drill=drill.id)
    for minutes in range(1, 12):  # the wait passes: the leader is told who did not answer
        now = EST_1530 + timedelta(minutes=3 + minutes)
        clock.set(now)
        app.lifecycle.escalate(now)
        app.village_desk.tick(now)
        dispatcher.deliver_due(now)
    report = app.drills.end(drill.id, "li.ming", clock.now())
    dispatcher.deliver_due(clock.now())

    # every message of the drill starts by saying so (what reached the file, the loudspeakers'
    # pages); the real chain's, which went on meanwhile, never do
    with app.db.sessions() as s:
        drill_alerts = set(s.scalars(select(AlertRow.id).where(AlertRow.rule_type == "drill")))
        drill_events = {
            e.id for e in s.scalars(select(EventRow))
            if e.alert_id in drill_alerts or e.data.get("drill") == drill.id
        }  # fmt: skip
        drill_pages = s.scalars(select(PageRow).where(PageRow.event_id.in_(drill_events))).all()
        kinds = {(p.role, p.channel) for p in drill_pages}
        assert {("officer", "file"), ("head", "file"), ("leader", "file"),
                ("loudspeaker", "speakers")} <= kinds  # fmt: skip
        for page in drill_pages:
            assert page.subject.startswith("【演练】"), page.subject
            assert page.role != "loudspeaker" or (
                page.body.startswith("演练！演练！") and page.body.endswith("以上是防汛演练。")
            )
        keys = {p.idempotency_key for p in drill_pages}
    pages = pages_in(tmp_path / "pages.jsonl")
    assert len(pages) > real_pages
    for page in pages:
        assert page["subject"].startswith("【演练】") == (page["key"] in keys), page["subject"]
    with app.db.sessions() as s:
        # the real alerts and warnings were not touched
        after = {a.id: (a.state, a.level, a.escalation_step)
                 for a in s.scalars(select(AlertRow).where(AlertRow.id.in_(real)))}  # fmt: skip
        assert after == real
        drill_alerts = s.scalars(select(AlertRow).where(AlertRow.rule_type == "drill")).all()
        assert drill_alerts and all(a.state == "cleared" for a in drill_alerts)
    assert [w.warning is not None for w in app.village_desk.chain()] == [True, False]  # real

    # the report: who was reached, on which channel, who answered and how fast, who never did
    assert {p.person for p in report.answered} == {"zhang.jianguo"}
    [zhang] = report.answered
    assert zhang.seconds == 180 and zhang.via == "web" and zhang.contacts[0].channel == "file"
    never = {p.person for p in report.never}
    assert {"chen.zhiqiang", "zhao.mei", "wang.deming", "sun.li"} <= never
    assert all(p.reached for p in report.people)
    assert len(report.loudspeakers) == 4 and report.dispatched == []  # the broker is down
    assert all(c.status == "failed" and "cannot connect" in (c.detail or "")
               for _, c in report.loudspeakers)  # fmt: skip
    data = report.as_json(app.config.settings.timezone)
    assert data["counts"]["answered"] == 1 and data["counts"]["loudspeakers"] == 4
    with app.db.sessions() as s:
        [ended] = s.scalars(select(EventRow).where(EventRow.type == "drill_ended")).all()
    assert ended.data["answered"] == 1 and ended.data["dispatched"] == 0

    # CAP: the drill's messages are exercises, the real ones actual; all valid CAP 1.2
    schema = xmlschema.XMLSchema(str(FIXTURES / "cap-schema" / "CAP-v1.2.xsd"))
    messages = app.cap.messages(limit=500)
    for m in messages:
        schema.validate(m.xml)
    exercise = [m for m in messages if m.status == "Exercise"]
    assert exercise and all("演练" in m.headline for m in exercise)
    assert {m.msg_type for m in exercise} == {"Alert", "Cancel"}
    assert {m.status for m in messages} == {"Actual", "Exercise"}
    assert all("<note>演练 / EXERCISE" in m.xml for m in exercise)

    # and the command prints the report again, as JSON too
    ran = fw("drill", "--config", str(app.config.path), "--report", str(drill.id), "--json",
             env={"FLOODWATCH_DATABASE": str(app.db.url)})  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["never_answered"] == data["never_answered"]


def test_drills_are_checked(app: App) -> None:
    now = app.clock.now()
    with pytest.raises(FloodwatchError, match="unknown level 'purple'"):
        app.drills.start("purple", "01589025", [], "li.ming", now)
    with pytest.raises(FloodwatchError, match="unknown station"):
        app.drills.start("red", "nowhere", [], "li.ming", now)
    with pytest.raises(FloodwatchError, match="unknown village 'hekuo'"):
        app.drills.start("red", "01589025", ["hekuo"], "li.ming", now)
    with pytest.raises(FloodwatchError, match="unknown person"):
        app.drills.start("red", "01589025", [], "nobody", now)
    drill = app.drills.start("警戒", "01589025", ["liulin"], "li.ming", now)  # an alias
    assert (drill.level, drill.villages["villages"]) == ("yellow", ["liulin"])
    with app.db.sessions() as s:
        [warned] = s.scalars(select(EventRow).where(EventRow.type == "village_warned")).all()
    assert warned.data["warning"] == "prepare" and warned.data["drill"] == drill.id
    app.drills.end(drill.id, "li.ming", now)
    with pytest.raises(FloodwatchError, match="ended"):
        app.drills.end(drill.id, "li.ming", now)
