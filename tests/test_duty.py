"""The duty office's own work in the database: handovers told and logged, the coverage monitor,
and roster files edited while the service runs (floodwatch.duty)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.store.models import EventRow, LogEntryRow, PageRow

from .helpers import TOWNSHIP_ROSTER, demo_readings, write_config
from .roster_support import local

SMALL = """\
version: 1
timezone: Asia/Shanghai
people:
  - {id: li.ming, name: 李明}
  - {id: chen.jing, name: 陈静}
  - {id: tom.baker, name: Tom Baker, language: en}
rotations:
  - {role: leader, members: [li.ming], anchor: 2026-06-01}
  - {role: officer, members: [chen.jing, tom.baker], anchor: 2026-06-01}
"""


def desk_app(tmp_path: Path, url: str, start: datetime, roster: str | None = None,
             **overrides: object) -> tuple[App, SimulatedClock]:  # fmt: skip
    rosters = [str(TOWNSHIP_ROSTER)]
    if roster is not None:
        (tmp_path / "roster.yaml").write_text(roster, encoding="utf-8")
        rosters = [str(tmp_path / "roster.yaml")]
    clock = SimulatedClock(start)
    app = build_app(
        write_config(tmp_path, rosters=rosters, **overrides), clock=clock, database_url=url
    )
    app.db.upgrade()
    return app, clock


def pages(app: App) -> list[tuple[str, str | None, str]]:
    with app.db.sessions() as s:
        return [(p.person, p.role, p.body) for p in s.scalars(select(PageRow).order_by(PageRow.id))]


def events_of(app: App, type_: str) -> list[dict[str, object]]:
    with app.db.sessions() as s:
        return [e.data for e in s.scalars(select(EventRow).where(EventRow.type == type_))]


def duty_log(app: App) -> list[tuple[str, str]]:
    with app.db.sessions() as s:
        return [(e.kind, e.text) for e in s.scalars(select(LogEntryRow).order_by(LogEntryRow.id))]


def test_the_incoming_team_is_told_with_the_open_alerts_and_the_outgoing_released(
    tmp_path: Path, database_url: str
) -> None:
    flood = demo_readings()
    app, clock = desk_app(tmp_path, database_url, local("2018-05-28 06:00"))
    assert app.handovers.tick(clock.now()) == 0  # the first tick only marks where counting starts
    app.pipeline.ingest(
        [r for r in flood if r.observed_at <= local("2018-05-28 06:00")], clock.now()
    )
    before = len(pages(app))
    clock.set(local("2018-05-28 08:05"))
    app.handovers.tick(clock.now())
    told = pages(app)[before:]
    who = {
        (person, role, "起值班" in body or "You are on duty" in body) for person, role, body in told
    }
    assert who == {
        ("zhao.lei", "leader", True), ("wu.qiang", "officer", True), ("tom.baker", "officer", True),
        ("wang.fang", "leader", False), ("sun.hao", "officer", False), ("zhou.min", "officer", False),
    }  # fmt: skip
    incoming = next(body for person, _, body in told if person == "zhao.lei")
    assert (
        "当前未解除告警：" in incoming
        and "#1 Patapsco River near Catonsville, MD orange" in incoming
    )
    english = next(body for person, _, body in told if person == "tom.baker")
    assert (
        "You are on duty as 值班员 (officer) from 2018-05-28 08:00 CST until 2018-05-29 08:00 CST"
        in english
    )
    # the alert's changes before it, then the handover (all written with their events)
    assert [k for k, _ in duty_log(app)] == ["opened", "raised", "handover"]
    # the same interval again, or a restart, announces nothing twice
    assert app.handovers.tick(clock.now()) == 0
    restarted = build_app(app.config.path, clock=clock, database_url=str(app.db.url))
    clock.set(local("2018-05-28 09:00"))
    assert restarted.handovers.tick(clock.now()) == 0


def test_a_reminder_reaches_the_incoming_team_hours_before(
    tmp_path: Path, database_url: str
) -> None:
    app, clock = desk_app(tmp_path, database_url, local("2018-05-28 05:00"),
                                duty={"handover_reminder": "2h"})  # fmt: skip
    app.handovers.tick(clock.now())
    clock.set(local("2018-05-28 06:30"))
    app.handovers.tick(clock.now())
    reminded = {(person, role) for person, role, body in pages(app) if "将于" in body or "Reminder" in body}  # fmt: skip
    assert reminded == {("zhao.lei", "leader"), ("wu.qiang", "officer"), ("tom.baker", "officer")}
    assert [k for k, _ in duty_log(app)] == ["handover_reminder"]


def test_the_coverage_monitor_pages_the_roster_administrators_once_a_day(
    tmp_path: Path, database_url: str
) -> None:
    gap = (
        SMALL
        + "unavailable:\n  - {person: li.ming, from: 2026-06-03, to: 2026-06-03, reason: 出差}\n"
    )
    app, clock = desk_app(tmp_path, database_url, local("2026-06-01 08:30"), roster=gap,
                                duty={"roster_admins": ["chen.jing"], "coverage_at": "09:00"})  # fmt: skip
    assert app.coverage.check(clock.now()) == 0  # before 09:00
    clock.set(local("2026-06-01 09:00"))
    assert app.coverage.check(clock.now()) == 1
    [(person, role, body)] = pages(app)
    assert (person, role) == ("chen.jing", "roster_admin")
    assert "带班" in body or "leader" in body
    # away on the 3rd: skipped for both shifts that touch that day
    assert "leader 06-02 08:00–06-04 08:00: 0/1" in body
    clock.set(local("2026-06-01 18:00"))
    assert app.coverage.check(clock.now()) == 0  # once a day
    assert [k for k, _ in duty_log(app)] == ["coverage"]


def test_a_valid_edit_takes_effect_and_is_logged(tmp_path: Path, database_url: str) -> None:
    app, clock = desk_app(tmp_path, database_url, local("2026-06-01 09:00"), roster=SMALL)
    assert app.roster_reloader.reload(clock.now()).outcome == "unchanged"
    path = tmp_path / "roster.yaml"
    path.write_text(SMALL.replace("members: [li.ming]", "members: [li.ming, chen.jing]").replace(
        "members: [chen.jing, tom.baker]", "members: [tom.baker]"), encoding="utf-8")  # fmt: skip
    result = app.roster_reloader.reload(clock.now())
    assert result.outcome == "reloaded"
    assert app.roster.current.on_duty(local("2026-06-02 09:00")).people("leader") == ("chen.jing",)
    [(kind, text)] = duty_log(app)
    assert kind == "roster" and "leader 2026-06-02 08:00" in text and "li.ming -> chen.jing" in text


def test_a_bad_edit_keeps_the_roster_in_force_and_pages_the_officer_once(
    tmp_path: Path, database_url: str
) -> None:
    app, clock = desk_app(tmp_path, database_url, local("2026-06-01 09:00"), roster=SMALL)
    in_force = app.roster.current
    path = tmp_path / "roster.yaml"
    path.write_text(SMALL.replace("members: [li.ming]", "members: [li.mingg]"), encoding="utf-8")
    result = app.roster_reloader.reload(clock.now())
    assert result.outcome == "rejected"
    assert result.lines == (
        f"{path}:8:30: rotations[0].members[0]: unknown person 'li.mingg' "
        "(not in the people of any roster file); did you mean 'li.ming'?",
    )
    assert app.roster.current is in_force and app.roster.version == 1
    told = pages(app)
    assert [(p, r) for p, r, _ in told] == [("chen.jing", "officer")]
    assert "修改后的排班表未生效" in told[0][2]  # chen.jing reads Mandarin: the problem too
    assert told[0][2].endswith(
        f"{path}:8:30: rotations[0].members[0]: 未知人员 'li.mingg'（不在任何值班表文件的 people "
        "中）；是否应为 'li.ming'？"
    )
    [rejected] = events_of(app, "roster_rejected")
    assert rejected == {"errors": list(result.lines)}  # the event stays in English
    assert app.roster_reloader.reload(clock.now()).outcome == "unchanged"  # told once per bad edit
    assert len(pages(app)) == 1
    assert [k for k, _ in duty_log(app)] == ["roster_rejected"]


def test_all_times_in_the_log_are_utc_instants(tmp_path: Path, database_url: str) -> None:
    start = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)  # 07:30 in Shanghai
    app, clock = desk_app(tmp_path, database_url, start, roster=SMALL)
    app.handovers.tick(clock.now())
    clock.advance(timedelta(hours=1))
    app.handovers.tick(clock.now())
    with app.db.sessions() as s:
        [entry] = s.scalars(select(LogEntryRow)).all()
    assert entry.at == datetime(2026, 6, 1, 0, 30, tzinfo=UTC)
    assert entry.data["at_local"] == "2026-06-01 08:00 CST"  # the handover event's data


def test_an_edit_dropping_a_roster_admin_is_refused_as_start_up_would(
    tmp_path: Path, database_url: str
) -> None:
    # bug (issue 7a): hot reload checked less than start-up, took this edit into force, and the
    # coverage check then raised KeyError on every tick
    app, clock = desk_app(tmp_path, database_url, local("2026-06-01 09:00"), roster=SMALL,
                          duty={"roster_admins": ["chen.jing"], "coverage_at": "09:00"})  # fmt: skip
    path = tmp_path / "roster.yaml"
    path.write_text(
        SMALL.replace("  - {id: chen.jing, name: 陈静}\n", "").replace(
            "members: [chen.jing, tom.baker]", "members: [tom.baker]"
        ),
        encoding="utf-8",
    )
    result = app.roster_reloader.reload(clock.now())
    assert result.outcome == "rejected"
    [line] = result.lines
    assert line.startswith(f"{app.config.path}:") and line.endswith(
        "duty.roster_admins[0]: unknown person 'chen.jing'"
    )
    assert "chen.jing" in app.roster.current.people and app.roster.version == 1
    # the monitor goes on with the roster in force: the gap-free roster pages nobody
    assert app.coverage.check(clock.now()) == 0
    assert [k for k, _ in duty_log(app)] == ["roster_rejected", "coverage"]


def test_an_edit_dropping_a_role_the_policies_page_is_refused_at_its_config_line(
    tmp_path: Path, database_url: str
) -> None:
    app, clock = desk_app(tmp_path, database_url, local("2026-06-01 09:00"), roster=SMALL)
    path = tmp_path / "roster.yaml"
    path.write_text(SMALL.replace("  - {role: leader, members: [li.ming], anchor: 2026-06-01}\n", ""),
                    encoding="utf-8")  # fmt: skip
    result = app.roster_reloader.reload(clock.now())
    assert result.outcome == "rejected"
    assert [line.split(": ", 1)[1] for line in result.lines] == [
        "escalation.default.steps[1].notify[0]: no rotation for role 'leader' in the rosters "
        "(roles: officer)"
    ]
    assert app.roster.current.roles == {"leader", "officer"}
