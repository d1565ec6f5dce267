"""The calendar export, read back with the `icalendar` package."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import icalendar
import pytest

from floodwatch.roster import load_rosters, to_ical

from .helpers import TOWNSHIP_ROSTER
from .roster_support import PEOPLE, SHANGHAI, local, roster_from


def events(data: bytes) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(data)
    return [c for c in calendar.walk() if c.name == "VEVENT"]


def test_one_event_per_shift_and_role_with_exact_times() -> None:
    roster = load_rosters([TOWNSHIP_ROSTER], SHANGHAI)
    start, end = local("2026-06-01 08:00"), local("2026-06-08 08:00")
    data = to_ical(roster, start, end, stamp=local("2026-05-30 10:00"))
    found = events(data)
    assert len(found) == 14  # 7 days x 2 roles
    leaders = [e for e in found if str(e["CATEGORIES"].cats[0]) == "leader"]
    assert [e.decoded("DTSTART") for e in leaders] == [
        (start + timedelta(days=d)).astimezone(UTC) for d in range(7)
    ]
    assert all(e.decoded("DTEND") - e.decoded("DTSTART") == timedelta(days=1) for e in found)
    assert str(leaders[0]["SUMMARY"]) == "带班领导 (leader): 李明"
    uids = [str(e["UID"]) for e in found]
    assert len(set(uids)) == len(uids)
    swap = next(e for e in found if e.decoded("DTSTART") == local("2026-06-04 08:00").astimezone(UTC)
                and str(e["CATEGORIES"].cats[0]) == "officer")  # fmt: skip
    assert str(swap["SUMMARY"]) == "值班员 (officer): 孙浩, 刘洋"
    assert "swap: swapped with chen.jing: 调班 (family matter)" in str(swap["DESCRIPTION"])
    assert "+8613800000013" not in data.decode("utf-8")  # numbers are masked
    # the same input gives the same bytes: calendars can be diffed and re-imported safely
    assert to_ical(roster, start, end, stamp=local("2026-05-30 10:00")) == data


def test_the_file_is_well_formed_rfc_5545() -> None:
    roster = load_rosters([TOWNSHIP_ROSTER], SHANGHAI)
    data = to_ical(roster, local("2026-06-01 08:00"), local("2026-07-01 08:00"))
    text = data.decode("utf-8")
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode("utf-8")) <= 75 for line in text.split("\r\n"))
    for e in events(data):
        for key in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
            assert key in e


def test_names_with_chinese_and_markup_characters_survive_intact(tmp_path: Path) -> None:
    text = """
        version: 1
        roles: [{id: officer, name: "值班员; 防汛, <夜班> & 白班"}]
        people:
          - {id: x, name: "张三 & <李四>, \\\\ 王五; 赵六"}
          - {id: y, name: 很长的名字很长的名字很长的名字很长的名字很长的名字很长的名字很长的名字}
        rotations:
          - {role: officer, members: [x, y], per_shift: 2, anchor: 2026-06-01}
    """
    roster = roster_from(tmp_path, text)
    data = to_ical(roster, local("2026-06-01 08:00"), local("2026-06-02 08:00"))
    [event] = events(data)
    expected = (
        "值班员; 防汛, <夜班> & 白班 (officer): 张三 & <李四>, \\ 王五; 赵六, " + "很长的名字" * 7
    )
    assert str(event["SUMMARY"]) == expected


def test_a_person_calendar_has_only_their_shifts_and_only_the_part_they_hold() -> None:
    roster = load_rosters([TOWNSHIP_ROSTER], SHANGHAI)
    data = to_ical(roster, local("2026-06-18 08:00"), local("2026-06-23 08:00"), person="tom.baker")
    spans = [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in events(data)]
    assert spans == [
        (local("2026-06-18 08:00").astimezone(UTC), local("2026-06-19 08:00").astimezone(UTC)),
        (local("2026-06-20 20:00").astimezone(UTC), local("2026-06-21 08:00").astimezone(UTC)),
        (local("2026-06-21 08:00").astimezone(UTC), local("2026-06-22 08:00").astimezone(UTC)),
    ]  # his rotation shifts, and the night drill he was added to
    leader = to_ical(roster, local("2026-06-01 08:00"), local("2026-06-04 08:00"), role="leader")
    assert len(events(leader)) == 3
    with pytest.raises(KeyError):
        to_ical(roster, local("2026-06-01 08:00"), local("2026-06-02 08:00"), person="nobody")


def test_a_roster_without_declared_roles_exports_too(tmp_path: Path) -> None:
    roster = roster_from(
        tmp_path,
        f"version: 1\n{PEOPLE}\nrotations: [{{role: r, members: [a], anchor: 2026-01-01}}]\n",
    )
    assert len(events(to_ical(roster, local("2026-01-01 08:00"), local("2026-01-03 08:00")))) == 2
