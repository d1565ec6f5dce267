"""Handover records (floodwatch.records.handover): written by the outgoing team, confirmed by
the incoming leader on any acknowledgement path, reminded and escalated like an alert until
then, and told in the incoming team's handover page."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from floodwatch.app import App
from floodwatch.clock import SimulatedClock
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.records.handover import confirmers, instant
from floodwatch.store.models import AlertRow, EventRow, HandoverRow, LogEntryRow, PageRow

from .helpers import demo_readings, fw
from .records_support import at, demo_clock_config, records_app


def flooded(
    tmp_path: Path, start: str = "2018-05-28 07:40", url: str | None = None
) -> tuple[App, SimulatedClock]:
    """The demo flood's alert open (orange, unacknowledged) at `start`, a hazard open."""
    app, clock = records_app(tmp_path, at(start), url)
    app.pipeline.ingest([r for r in demo_readings() if r.observed_at <= clock.now()], clock.now())
    app.hazards.add("河口村3组河堤", "堤脚渗水", "wu.qiang", date(2018, 5, 30), "sun.hao",
                    clock.now())  # fmt: skip
    return app, clock


def pages_of(app: App, alert: int | None = None, role: str | None = None) -> list[PageRow]:
    with app.db.sessions() as s:
        query = select(PageRow).order_by(PageRow.id)
        if alert is not None:
            query = query.where(PageRow.alert_id == alert)
        if role is not None:
            query = query.where(PageRow.role == role)
        return list(s.scalars(query))


def alert_of(app: App, row: HandoverRow) -> AlertRow:
    with app.db.sessions() as s:
        alert = s.get(AlertRow, row.alert_id)
        assert alert is not None
        return alert


def test_the_record_holds_both_teams_what_is_open_and_the_note(tmp_path: Path) -> None:
    app, clock = flooded(tmp_path)
    row = app.handover_book.write("sun.hao", "1号闸门已落，注意下游水位", clock.now())
    assert row.handover_at == at("2018-05-28 08:00")  # the shift change 20 minutes ahead
    assert row.outgoing == {"leader": ["wang.fang"], "officer": ["sun.hao", "zhou.min"]}
    assert row.incoming == {"leader": ["zhao.lei"], "officer": ["wu.qiang", "tom.baker"]}
    [open_alert] = row.open_alerts["alerts"]
    assert (open_alert["id"], open_alert["level"], open_alert["acknowledged_by"]) == (
        1,
        "orange",
        None,
    )
    assert [h["where"] for h in row.open_hazards["hazards"]] == ["河口村3组河堤"]
    # the incoming leader, and only they, is paged to confirm, with the record in the page
    alert = alert_of(app, row)
    assert (alert.rule_type, alert.station, alert.level, alert.state) == (
        "handover", "handover", "blue", "open"
    )  # fmt: skip
    told = pages_of(app, alert.id)
    assert {p.person for p in told} == {"zhao.lei"}
    assert all(p.subject == "【请确认交接班】" and "请确认交接班" in p.body for p in told)
    assert all("交班留言：1号闸门已落，注意下游水位" in p.body and "#1 Patapsco" in p.body
               for p in told)  # fmt: skip
    with app.db.sessions() as s:
        [entry] = s.scalars(select(LogEntryRow).where(LogEntryRow.kind == "handover_written"))
    assert "sun.hao 填写交接班记录 #1" in entry.text and "未解除告警 1 个" in entry.text


def test_only_the_outgoing_team_writes_it(tmp_path: Path) -> None:
    app, clock = flooded(tmp_path)
    with pytest.raises(FloodwatchError, match=r"zhao.lei is not in the outgoing team"):
        app.handover_book.write("zhao.lei", "x", clock.now())
    with pytest.raises(NotFound, match="unknown person 'nobody'"):
        app.handover_book.write("nobody", "x", clock.now())


def test_the_shift_change_is_the_nearest_one(tmp_path: Path) -> None:
    app, _ = records_app(tmp_path, at("2018-05-28 07:00"))
    roster = app.roster.current
    assert instant(roster, at("2018-05-28 07:50")) == at("2018-05-28 08:00")
    assert instant(roster, at("2018-05-28 08:30")) == at("2018-05-28 08:00")  # written late
    assert instant(roster, at("2018-05-28 20:00")) == at("2018-05-29 08:00")  # a tie: the next
    assert confirmers({"leader": ["a"], "officer": ["b"]}) == ["a"]
    assert confirmers({"leader": [], "officer": ["c", "b"]}) == ["b", "c"]


def test_confirmed_by_the_incoming_leader_by_sms_and_nobody_else(
    tmp_path: Path, database_url: str
) -> None:
    app, clock = flooded(tmp_path, url=database_url)
    row = app.handover_book.write("sun.hao", "注意下游", clock.now())
    assert row.alert_id is not None
    clock.set(at("2018-05-28 08:05"))
    with pytest.raises(FloodwatchError, match=r"only the incoming leader \(zhao.lei\)"):
        app.lifecycle.acknowledge(row.alert_id, "wu.qiang", "sms", clock.now())
    assert alert_of(app, row).acknowledged_at is None  # refused whole: nothing recorded
    app.lifecycle.acknowledge(row.alert_id, "zhao.lei", "sms", clock.now())
    with app.db.sessions() as s:
        saved = s.get(HandoverRow, row.id)
        assert saved is not None
        assert (saved.accepted_by, saved.accepted_via, saved.accepted_at) == (
            "zhao.lei", "sms", at("2018-05-28 08:05")
        )  # fmt: skip
        types = [
            e.type for e in s.scalars(select(EventRow).where(EventRow.alert_id == row.alert_id))
        ]
        text = s.scalars(
            select(LogEntryRow.text).where(LogEntryRow.kind == "handover_accepted")
        ).one()
    assert types[-2:] == ["acknowledged", "handover_accepted"]
    assert text == "交接班记录 #1 已由 zhao.lei 经短信确认接班"
    assert alert_of(app, row).state == "cleared"  # done: it neither escalates nor lingers
    with pytest.raises(FloodwatchError, match="no handover record is waiting"):
        app.handover_book.waiting()


def test_unconfirmed_it_is_reminded_and_escalated_from_the_shift_change_on(
    tmp_path: Path, database_url: str
) -> None:
    app, clock = flooded(tmp_path, "2018-05-28 06:00", database_url)
    row = app.handover_book.write("sun.hao", "注意下游", clock.now())
    assert row.alert_id is not None
    clock.set(at("2018-05-28 07:59"))
    app.pipeline.tick(clock.now())
    assert len(pages_of(app, row.alert_id)) == 2  # the first page only: not before 08:00
    clock.set(at("2018-05-28 08:15"))  # the default policy's second step, 15 min after
    app.pipeline.tick(clock.now())
    later = pages_of(app, row.alert_id)[2:]
    assert {(p.person, p.role) for p in later} == {("zhao.lei", "leader")}
    # (waited since the record was written at 06:00)
    assert all(p.subject == "【交接班未确认】" and "135分钟无人确认" in p.body for p in later)
    clock.set(at("2018-05-28 09:15"))  # and every hour after (repeat_every)
    app.pipeline.tick(clock.now())
    assert len(pages_of(app, row.alert_id)) == 6
    # a handover alert has no rule in the config: it is never retired as orphaned
    assert alert_of(app, row).state == "open"


def test_a_new_record_supersedes_one_not_yet_confirmed(tmp_path: Path) -> None:
    app, clock = flooded(tmp_path)
    first = app.handover_book.write("sun.hao", "初稿", clock.now())
    second = app.handover_book.write("zhou.min", "补充：2号闸门检修", clock.now())
    assert alert_of(app, first).state == "retired"
    assert alert_of(app, second).state == "open"
    assert app.handover_book.waiting().id == second.id


def test_the_incoming_teams_handover_page_carries_the_note(tmp_path: Path) -> None:
    app, clock = flooded(tmp_path)
    app.handovers.tick(clock.now())
    app.handover_book.write("sun.hao", "1号闸门已落", clock.now())
    clock.set(at("2018-05-28 08:01"))
    app.handovers.tick(clock.now())
    told = [p for p in pages_of(app) if "您已接班" in p.subject or "You are on duty" in p.subject]
    assert {p.person for p in told} == {"zhao.lei", "wu.qiang", "tom.baker"}
    assert all(
        "交班留言（孙浩，交接班记录 #1）/ handover note: 1号闸门已落" in p.body for p in told
    )


def test_a_handover_page_says_when_no_record_was_written(tmp_path: Path) -> None:
    app, clock = flooded(tmp_path)
    app.handovers.tick(clock.now())
    clock.set(at("2018-05-28 08:01"))
    app.handovers.tick(clock.now())
    incoming = [p for p in pages_of(app) if p.person == "zhao.lei"]
    assert incoming and all("本次交接班未填写交接班记录" in p.body for p in incoming)


# -- from the command line ------------------------------------------------------------------------


def test_a_shift_handed_over_from_the_command_line(tmp_path: Path) -> None:
    config = demo_clock_config(tmp_path, "2018-05-28T07:50:00+08:00")
    c = ("--config", str(config))
    ran = fw("handover", *c, "--by", "sun.hao", "--note", "1号闸门已落")
    assert ran.returncode == 0, ran.stderr
    assert "handover record #1 for the shift change at 2018-05-28 08:00 written by sun.hao" in (
        ran.stdout
    )
    ran = fw("handover", "accept", *c, "--by", "wu.qiang")
    assert (ran.returncode, ran.stderr.strip().splitlines()) == (
        1, ["error: only the incoming leader (zhao.lei) can confirm handover record #1"]
    )  # fmt: skip
    ran = fw("handover", "accept", *c, "--by", "zhao.lei")
    assert (ran.returncode, ran.stdout.strip()) == (0, "handover record #1 confirmed by zhao.lei")
    ran = fw("handover", "list", *c)
    assert "#1    2018-05-28 08:00  by sun.hao     confirmed by zhao.lei (cli)" in ran.stdout
    ran = fw("handover", "list", *c, "--json")
    assert '"accepted_via": "cli"' in ran.stdout and '"note": "1号闸门已落"' in ran.stdout
    ran = fw("handover", "accept", *c, "--by", "zhao.lei")
    assert (ran.returncode, ran.stderr.strip()) == (
        1, "error: no handover record is waiting for confirmation"
    )  # fmt: skip


def test_bad_handover_input_is_one_line(tmp_path: Path) -> None:
    config = demo_clock_config(tmp_path, "2018-05-28T07:50:00+08:00")
    c = ("--config", str(config))
    for args, message in (
        (("--by", "nobody", "--note", "x"), "error: unknown person 'nobody': not in the rosters"),
        (("--by", "zhao.lei", "--note", "x"),
         "error: zhao.lei is not in the outgoing team of the handover at 2018-05-28 08:00 CST "
         "(outgoing: sun.hao, wang.fang, zhou.min)"),
    ):  # fmt: skip
        ran = fw("handover", *c, *args)
        assert (ran.returncode, ran.stderr.strip().splitlines()) == (1, [message])
    ran = fw("handover", "accept", *c, "--by", "nobody")
    assert (ran.returncode, ran.stderr.strip()) == (
        1, "error: --by: unknown person 'nobody': not in the rosters"
    )  # fmt: skip
    assert fw("handover", *c, "--by", "sun.hao").returncode == 2  # no --note: a usage error
