"""Hazards to rectify (floodwatch.records.hazards): the owner reminded before the deadline, the
leader on duty paged exactly once when it passes, the whole history kept; the commands."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from floodwatch.app import App
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.records.hazards import Nudge, deadline, due_day, nudge
from floodwatch.store.models import EventRow, HazardEventRow, PageRow

from .helpers import fw, write_config
from .records_support import at, demo_clock_config, records_app
from .roster_support import SHANGHAI

DUE = at("2018-05-29 00:00")  # the deadline of a hazard due on 28 May
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("now", "reminded", "told", "done", "expected"),
    [
        (DUE - DAY - HOUR, False, False, False, None),  # not yet
        (DUE - DAY, False, False, False, Nudge.REMIND),  # a day before: the owner
        (DUE - HOUR, True, False, False, None),  # reminded once
        (DUE, True, False, False, Nudge.OVERDUE),  # the deadline: the leader on duty
        (DUE, False, False, False, Nudge.OVERDUE),  # found already late: no reminder
        (DUE + DAY, True, True, False, None),  # told once
        (DUE + DAY, False, False, True, None),  # done: nothing
        (DUE - DAY, False, False, True, None),
    ],
)  # fmt: skip
def test_nudge(now: object, reminded: bool, told: bool, done: bool, expected: Nudge | None) -> None:
    assert nudge(DUE, reminded, told, done, now, DAY) is expected  # type: ignore[arg-type]


def test_the_deadline_is_the_end_of_the_due_day_local() -> None:
    assert deadline(date(2018, 5, 28), SHANGHAI) == DUE
    assert due_day(DUE, SHANGHAI) == date(2018, 5, 28)


def pages(app: App, role: str) -> list[PageRow]:
    with app.db.sessions() as s:
        return list(s.scalars(select(PageRow).where(PageRow.role == role).order_by(PageRow.id)))


def test_overdue_on_a_simulated_clock_pages_the_leader_on_duty_exactly_once(
    tmp_path: Path, database_url: str
) -> None:
    app, clock = records_app(tmp_path, at("2018-05-27 09:00"), database_url)
    h = app.hazards.add("河口村3组河堤", "堤脚渗水", "wu.qiang", date(2018, 5, 28), "sun.hao",
                        clock.now(), village="河口村")  # fmt: skip
    done = app.hazards.add("S305桥头", "护栏被冲毁", "tom.baker", date(2018, 5, 28), "sun.hao",
                           clock.now())  # fmt: skip
    app.hazards.done(done.id, "tom.baker", "已设临时护栏", clock.now())
    assert app.hazards.tick(clock.now()) == 0  # due in more than a day
    told = {"owner": 0, "leader": 0}
    step = at("2018-05-27 09:00")
    while step < at("2018-05-30 12:00"):  # every 15 minutes for three days
        step += timedelta(minutes=15)
        clock.set(step)
        app.hazards.tick(clock.now())
    told = {"owner": len(pages(app, "hazard_owner")), "leader": len(pages(app, "leader"))}
    assert told == {"owner": 2, "leader": 2}  # one page each, on both channels
    [reminder, _] = pages(app, "hazard_owner")
    assert reminder.person == "wu.qiang" and reminder.created_at == at("2018-05-28 00:00")
    assert (
        "【隐患整改提醒】" in reminder.subject
        and "#1：河口村3组河堤（河口村），堤脚渗水" in reminder.body
    )
    overdue = pages(app, "leader")
    # the leader on duty at midnight on the 29th: zhao.lei (the shift from 08:00 on the 28th)
    assert {(p.person, p.created_at) for p in overdue} == {("zhao.lei", DUE)}
    assert all("【隐患逾期未整改】" in p.subject and "吴强" in p.body for p in overdue)
    with app.db.sessions() as s:
        history = [
            (e.kind, e.by)
            for e in s.scalars(select(HazardEventRow).where(HazardEventRow.hazard_id == h.id)
                               .order_by(HazardEventRow.id))
        ]  # fmt: skip
        overdue_events = s.scalars(select(EventRow).where(EventRow.type == "hazard_overdue")).all()
    assert history == [("added", "sun.hao"), ("reminded", "floodwatch"), ("overdue", "floodwatch")]
    assert [e.data["hazard"] for e in overdue_events] == [h.id]  # the done one: never
    assert [x.id for x in app.hazards.listing(clock.now(), overdue_only=True)] == [h.id]


def test_a_restart_pages_nothing_twice(tmp_path: Path, database_url: str) -> None:
    from floodwatch.app import build_app

    app, clock = records_app(tmp_path, at("2018-05-29 00:30"), database_url)
    app.hazards.add("桥头", "护栏", "wu.qiang", date(2018, 5, 29), "sun.hao", clock.now())
    clock.set(at("2018-05-30 00:00"))
    assert app.hazards.tick(clock.now()) == 2
    again = build_app(app.config.path, clock=clock, database_url=str(app.db.url), notifiers={
        name: n for name, n in app.notifiers.items()})  # fmt: skip
    assert again.hazards.tick(clock.now()) == 0


def test_bad_hazards_are_refused_with_the_reason(tmp_path: Path) -> None:
    app, clock = records_app(tmp_path, at("2018-05-28 09:00"))
    add = app.hazards.add
    with pytest.raises(NotFound, match="--owner: unknown person 'nobody'"):
        add("桥头", "护栏", "nobody", date(2018, 5, 29), "sun.hao", clock.now())
    with pytest.raises(
        FloodwatchError, match=r"--due: 2018-05-27 has passed \(today is 2018-05-28\)"
    ):
        add("桥头", "护栏", "wu.qiang", date(2018, 5, 27), "sun.hao", clock.now())
    with pytest.raises(FloodwatchError, match="--where: empty"):
        add("  ", "护栏", "wu.qiang", date(2018, 5, 29), "sun.hao", clock.now())
    with pytest.raises(NotFound, match="no hazard #7"):
        app.hazards.done(7, "sun.hao", "x", clock.now())


# -- from the command line ------------------------------------------------------------------------


def test_an_officer_keeps_the_hazards_from_the_command_line(tmp_path: Path) -> None:
    config = demo_clock_config(tmp_path, "2018-05-28T09:00:00+08:00")
    c = ("--config", str(config))
    ran = fw("hazard", "add", *c, "--where", "河口村3组河堤", "--what", "堤脚渗水", "--owner",
             "wu.qiang", "--due", "2018-05-29", "--village", "河口村", "--by", "sun.hao")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == (
        "hazard #1 recorded: 河口村3组河堤: 堤脚渗水; owner wu.qiang, due 2018-05-29"
    )
    fw("hazard", "add", *c, "--where", "桥头", "--what", "护栏", "--owner", "tom.baker",
       "--due", "2018-05-28", "--by", "sun.hao")  # fmt: skip
    ran = fw("hazard", "list", *c)
    assert ran.stdout.splitlines() == [
        "#2    due 2018-05-28  open     owner tom.baker   桥头: 护栏",
        "#1    due 2018-05-29  open     owner wu.qiang    河口村3组河堤 [河口村]: 堤脚渗水",
    ]
    assert fw("hazard", "list", *c, "--overdue").stdout.strip() == "no overdue hazards"
    ran = fw("hazard", "done", "2", *c, "--by", "tom.baker", "--note", "已设临时护栏")
    assert ran.returncode == 0 and ran.stdout.startswith(
        "hazard #2 done by tom.baker at 2018-05-28"
    )
    listed = json.loads(fw("hazard", "list", *c, "--all", "--json").stdout)
    assert [(h["id"], h["state"], h["done_by"]) for h in listed] == [
        (2, "done", "tom.baker"), (1, "open", None)
    ]  # fmt: skip
    shown = json.loads(fw("hazard", "show", "2", *c, "--json").stdout)
    assert [(e["kind"], e["by"], e["note"]) for e in shown["history"]] == [
        ("added", "sun.hao", "桥头：护栏"), ("done", "tom.baker", "已设临时护栏"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "--where", "a", "--what", "b", "--owner", "nobody", "--due", "2018-05-29",
          "--by", "sun.hao"), "error: --owner: unknown person 'nobody': not in the rosters"),
        (("add", "--where", "a", "--what", "b", "--owner", "wu.qiang", "--due", "2018-05-29",
          "--by", "nobody"), "error: --by: unknown person 'nobody': not in the rosters"),
        (("add", "--where", "a", "--what", "b", "--owner", "wu.qiang", "--due", "29/05/2018",
          "--by", "sun.hao"), "error: --due: expected a date as YYYY-MM-DD, found '29/05/2018'"),
        (("done", "9", "--by", "sun.hao", "--note", "x"), "error: no hazard #9"),
        (("show", "9"), "error: no hazard #9"),
    ],
)  # fmt: skip
def test_bad_hazard_input_exits_1_in_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    config = write_config(tmp_path)
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    ran = fw("hazard", *args, "--config", str(config))
    assert (ran.returncode, ran.stderr.strip().splitlines()) == (1, [message])
