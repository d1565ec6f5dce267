"""The duty log (floodwatch.records.dutylog): one automatic entry per event the log keeps,
written where every event is written; people's entries and their corrections, never edited;
`floodwatch log add|show`; and every command telling the time by the service's clock."""

from __future__ import annotations

import json
import typing
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from sqlalchemy import select

from floodwatch.cli import main
from floodwatch.events import EVENT_TYPES, Event
from floodwatch.records import dutylog
from floodwatch.store import Database
from floodwatch.store.events import record
from floodwatch.store.models import LogEntryRow

from .helpers import fw, write_config
from .records_support import demo_clock_config

# steps on the way to an outcome the log does keep
NOT_LOGGED = {"page_queued", "page_retry"}


def test_every_event_type_is_either_logged_or_known_not_to_be() -> None:
    # a new event type has to be given its duty-log text (or be added here, with a reason)
    assert set(dutylog.LOGGED) == set(EVENT_TYPES) - NOT_LOGGED


def sample(cls: type[Event]) -> Event:
    """An event of type `cls` with plausible values in every field."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in ("alert", "station", "level"):
            continue
        kind = str(hints[f.name])
        if "dict" in kind:
            value: Any = {"leader": ["li.ming"]} if "list" in kind else {}
        elif "list[int]" in kind:
            value = [1]
        elif "list" in kind:
            value = ["li.ming"]
        elif "bool" in kind:
            value = False
        elif "int" in kind:
            value = 2
        elif "float" in kind:
            value = 20.5
        else:
            value = "sms" if f.name == "via" else "x"
        values[f.name] = value
    return cls(alert=1 if "alert" not in values else None, station="s1", level="yellow", **values)


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_an_event_writes_its_entry_with_it_once(kind: str, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fw.db'}")
    db.upgrade()
    now = datetime(2018, 5, 28, tzinfo=UTC)
    with db.transaction() as session:
        from floodwatch.store.models import AlertRow

        session.add(AlertRow(id=1, rule_type="threshold", station="s1", parameter="stage",
                             rule_id="r", level="yellow", peak_level="yellow", state="open",
                             value=1, unit="ft", opened_at=now, updated_at=now,
                             policy="default"))  # fmt: skip
        session.flush()
        row = record(session, now, sample(EVENT_TYPES[kind]))
    with db.sessions() as session:
        entries = session.scalars(select(LogEntryRow)).all()
    db.dispose()
    if kind in NOT_LOGGED:
        assert entries == []
        return
    [entry] = entries
    assert entry.at == now and entry.author == "floodwatch" and entry.text.strip()
    assert entry.data["event"] == row.id and entry.data["type"] == kind
    assert entry.kind in dutylog.kinds() and entry.kind in dutylog.KIND_ZH


def test_the_texts_say_what_happened_in_the_offices_language() -> None:
    from floodwatch.events import Acknowledged, Opened, PageFailed

    opened = Opened(alert=1, station="01589025", level="yellow", previous=None, value=20.63,
                    unit="ft", rule="patapsco-stage", rule_type="threshold")  # fmt: skip
    assert dutylog.LOGGED["opened"](opened) == (
        "告警 #1 开启：测站 01589025 20.63 ft，达黄色预警（规则 patapsco-stage）"
    )
    ack = Acknowledged(alert=1, by="wang.fang", role="leader", via="voice", pending=["a", "b"])
    assert dutylog.LOGGED["acknowledged"](ack) == (
        "告警 #1 已由 wang.fang（leader）经电话确认，尚待 a、b 确认"
    )
    failed = PageFailed(alert=1, to="tom.baker", role="officer", channel="sms", page=3,
                        attempt=5, outcome="permanent", detail="no such subscriber")  # fmt: skip
    assert dutylog.LOGGED["page_failed"](failed) == (
        "呼叫 tom.baker（officer）经 sms 失败：no such subscriber（告警 #1）"
    )
    handover_alert = Opened(alert=2, station="handover", level="blue", value=1, unit="",
                            rule="handover-1", rule_type="handover")  # fmt: skip
    assert dutylog.LOGGED["opened"](handover_alert) is None  # told by handover_written


# -- people's entries -----------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return demo_clock_config(tmp_path, "2018-05-28T09:00:00+08:00")


def test_entries_are_written_shown_and_corrected_never_edited(config: Path) -> None:
    c = ("--config", str(config))
    ran = fw("log", "add", "县防办来电，要求加密巡查", "--by", "zhao.lei", "--kind", "call", *c)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("duty-log entry #1 written at 2018-05-28 09:00 CST")
    ran = fw("log", "add", "县防办来电，要求每2小时巡查一次", "--by", "zhao.lei", "--kind", "call",
             "--corrects", "1", *c)  # fmt: skip
    assert ran.returncode == 0 and "(corrects #1)" in ran.stdout
    fw("log", "add", "巡查河口村3组河堤：无异常", "--by", "wu.qiang", "--kind", "patrol", *c)
    shown = fw("log", "show", *c).stdout.splitlines()  # today, by the demo clock
    assert shown[0] == "duty log 值班记录 2018-05-28 00:00 – 2018-05-29 00:00 (Asia/Shanghai)"
    assert shown[1].endswith(
        "#1     call               zhao.lei    [corrected by #2] 县防办来电，要求加密巡查"
    )
    assert shown[2].endswith(
        "#2     call               zhao.lei    [corrects #1] 县防办来电，要求每2小时巡查一次"
    )
    entries = json.loads(fw("log", "show", *c, "--kind", "patrol", "--json").stdout)
    assert [(e["id"], e["kind"], e["author"]) for e in entries] == [(3, "patrol", "wu.qiang")]
    assert fw("log", "show", *c, "--date", "2018-05-27").stdout.splitlines()[1] == "no entries"
    ran = fw("log", "show", *c, "--from", "2018-05-28 08:00", "--to", "2018-05-28")
    assert len(ran.stdout.splitlines()) == 4
    # the first entry is as it was written: a correction is a new entry pointing at it
    with Database(f"sqlite:///{config.parent / 'floodwatch.db'}").sessions() as s:
        first = s.get(LogEntryRow, 1)
        assert first is not None and first.text == "县防办来电，要求加密巡查"


def test_no_command_edits_or_deletes_an_entry() -> None:
    def tree(group: click.Group, prefix: str = "") -> list[str]:
        out = []
        for name, cmd in group.commands.items():
            out.append(f"{prefix}{name}")
            if isinstance(cmd, click.Group):
                out += tree(cmd, f"{prefix}{name} ")
        return out

    commands = tree(main)
    assert [c for c in commands if c.startswith("log ")] == ["log add", "log show"]
    for word in ("edit", "delete", "remove", "rm", "update", "amend"):
        assert not any(word in c.split() for c in commands), word
    ran = fw("log", "edit", "1")
    assert ran.returncode == 2 and "No such command 'edit'" in ran.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "x", "--by", "nobody"), "error: --by: unknown person 'nobody': not in the rosters"),
        (("add", "x", "--by", "zhao.lei", "--corrects", "99"),
         "error: no duty-log entry #99 to correct"),
        (("add", "  ", "--by", "zhao.lei"), "error: the entry is empty: write what happened"),
        (("show", "--date", "2018-02-30"),
         "error: --date: expected a date as YYYY-MM-DD, found '2018-02-30'"),
        (("show", "--from", "yesterday"),
         "error: --from: expected \"YYYY-MM-DD HH:MM\" or ISO 8601, found 'yesterday'"),
        (("show", "--date", "2018-05-28", "--from", "2018-05-28"),
         "error: give --date, or --from/--to, not both"),
        (("show", "--from", "2018-05-28 10:00", "--to", "2018-05-28 09:00"),
         "error: --to is not after --from"),
        (("show", "--kind", "gossip"), "error: --kind: unknown kind 'gossip' (kinds: "),
    ],
)  # fmt: skip
def test_bad_log_input_exits_1_in_one_line(
    config: Path, args: tuple[str, ...], message: str
) -> None:
    ran = fw("log", *args, "--config", str(config))
    assert ran.returncode == 1
    [line] = ran.stderr.strip().splitlines()
    assert line.startswith(message)


def test_a_missing_database_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    ran = fw("log", "show", "--config", str(config))
    assert ran.returncode == 1 and ran.stderr.strip().startswith("error: no database at")


# -- the service's clock --------------------------------------------------------------------------


def test_commands_without_a_time_use_the_services_clock(config: Path) -> None:
    c = ("--config", str(config))
    who = fw("roster", "who", *c, "--json")
    assert json.loads(who.stdout)["at"].startswith("2018-05-28T09:0")
    gaps = json.loads(fw("roster", "gaps", *c, "--days", "1", "--json").stdout)
    assert gaps["from"].startswith("2018-05-28T09:0") and gaps["to"].startswith("2018-05-29T09:0")
    show = json.loads(fw("roster", "show", *c, "--days", "1", "--json").stdout)
    assert show["rows"][0]["start"].startswith("2018-05-28T08:00")
    assert fw("log", "show", *c).stdout.startswith("duty log 值班记录 2018-05-28 00:00")
    report = fw("report", *c)
    assert "值班日报 2018-05-28" in report.stdout and "截至 2018-05-28 09:0" in report.stdout
