"""Who is on duty when: handover boundaries, month and year ends, DST, seasons, swaps, skips,
overrides; and the library views built on it (gaps, the duty table, diffs)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from floodwatch.roster import Roster, Why, diff, gaps, load_rosters, shifts

from .helpers import TOWNSHIP_ROSTER
from .roster_support import LONDON, PEOPLE, SHANGHAI, local, roster_from

ONE_US = timedelta(microseconds=1)


def basic(tmp_path: Path, rotations: str, extra: str = "", zone: str = "Asia/Shanghai") -> str:
    return f"version: 1\ntimezone: {zone}\n{PEOPLE}\nrotations:\n{rotations}\n{extra}"


@pytest.fixture
def township() -> Roster:
    return load_rosters([TOWNSHIP_ROSTER], SHANGHAI)


def test_the_handover_instant_belongs_to_the_incoming_shift(tmp_path: Path) -> None:
    roster = roster_from(
        tmp_path, basic(tmp_path, "  - {role: officer, members: [a, b, c], anchor: 2026-06-01}")
    )
    handover = local("2026-06-02 08:00")
    before = roster.on_duty(handover - ONE_US).assignments["officer"]
    after = roster.on_duty(handover).assignments["officer"]
    assert before.people == ("a",) and after.people == ("b",)
    assert before.end == after.start == handover
    assert after.end == local("2026-06-03 08:00")
    # the anchor only fixes the phase: the rotation runs before it too
    assert roster.on_duty(local("2026-05-31 09:00")).people("officer") == ("c",)


@pytest.mark.parametrize(
    ("at", "start", "end"),
    [
        ("2026-06-30 23:59", "2026-06-30 08:00", "2026-07-01 08:00"),  # month end
        ("2026-07-01 07:59", "2026-06-30 08:00", "2026-07-01 08:00"),
        ("2026-12-31 08:00", "2026-12-31 08:00", "2027-01-01 08:00"),  # year end
        ("2027-01-01 00:00", "2026-12-31 08:00", "2027-01-01 08:00"),
        ("2027-01-01 08:00", "2027-01-01 08:00", "2027-01-02 08:00"),
        ("2028-02-29 12:00", "2028-02-29 08:00", "2028-03-01 08:00"),  # leap day
    ],
)
def test_month_and_year_ends(tmp_path: Path, at: str, start: str, end: str) -> None:
    roster = roster_from(
        tmp_path, basic(tmp_path, "  - {role: officer, members: [a, b, c], anchor: 2026-06-01}")
    )
    a = roster.on_duty(local(at)).assignments["officer"]
    assert (a.start, a.end) == (local(start), local(end))
    n = (local(start).date() - date(2026, 6, 1)).days
    assert a.people == ("abc"[n % 3],)


def test_a_24h_shift_across_the_dst_changes_keeps_the_handover_at_0800(tmp_path: Path) -> None:
    roster = roster_from(
        tmp_path,
        basic(tmp_path, "  - {role: officer, members: [a, b], anchor: 2026-03-01}", "",
              "Europe/London"),
        LONDON,
    )  # fmt: skip
    spring = roster.assignment("officer", local("2026-03-29 07:00", LONDON))
    assert spring.start == local("2026-03-28 08:00", LONDON)
    assert spring.end == local("2026-03-29 08:00", LONDON)
    assert spring.duration == timedelta(hours=23)  # the clocks went forward
    assert spring.end.astimezone(UTC).hour == 7  # 08:00 BST
    autumn = roster.assignment("officer", local("2026-10-25 07:00", LONDON))
    assert autumn.duration == timedelta(hours=25)
    assert autumn.end.astimezone(UTC).hour == 8  # 08:00 GMT
    # the people alternate across the change as on any other day
    days = [
        roster.assignment("officer", local(f"2026-03-{d} 12:00", LONDON)) for d in range(27, 32)
    ]
    assert [a.people[0] for a in days] == ["a", "b", "a", "b", "a"]


def test_12h_shifts_across_dst_and_a_handover_in_the_repeated_hour(tmp_path: Path) -> None:
    rotations = (
        "  - {role: officer, members: [a, b], shift: 12h, handover: '07:00', anchor: 2026-03-01}\n"
        "  - {role: leader, members: [c, d], handover: '01:30', anchor: 2026-03-01}"
    )
    roster = roster_from(tmp_path, basic(tmp_path, rotations, "", "Europe/London"), LONDON)
    night = roster.assignment("officer", local("2026-10-25 03:00", LONDON))
    assert night.start == local("2026-10-24 19:00", LONDON)
    assert night.duration == timedelta(hours=13)
    # 01:30 happens twice on 25 October: the handover is at the first one (BST)
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST
    before = roster.assignment("leader", first - ONE_US)
    after = roster.assignment("leader", first)
    assert before.people != after.people and after.start.astimezone(UTC) == first
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 01:30 GMT, the repeated hour
    assert roster.assignment("leader", second).people == after.people
    # every instant of the DST weekends is in exactly one shift, and shifts tile the time
    for role in ("officer", "leader"):
        for day in ("2026-03-28", "2026-10-24"):
            start = local(f"{day} 00:00", LONDON)
            segments = list(roster.segments(role, start, start + timedelta(days=3)))
            assert segments[0][0] == start.astimezone(UTC)
            assert all(
                e == s2 for (_, e, _), (s2, _, _) in zip(segments, segments[1:], strict=False)
            )
            for s, e, a in segments:
                assert a.start <= s < e <= a.end


def test_seasons_change_the_staffing_by_the_shift_start_date(tmp_path: Path) -> None:
    extra = """
seasons:
  - {name: 汛期, from: "05-01", to: "09-30", staffing: {officer: 2}}
  - {name: winter, from: "12-01", to: "02-28", staffing: {officer: 3}}
"""
    roster = roster_from(
        tmp_path,
        basic(tmp_path, "  - {role: officer, members: [a, b, c, d], anchor: 2026-06-01}", extra),
    )
    assert len(roster.assignment("officer", local("2026-04-30 09:00")).people) == 1
    # the shift starting 30 April 08:00 is outside the season, though it ends in May
    assert len(roster.assignment("officer", local("2026-05-01 07:00")).people) == 1
    assert len(roster.assignment("officer", local("2026-05-01 08:00")).people) == 2
    assert len(roster.assignment("officer", local("2026-10-01 07:59")).people) == 2
    assert len(roster.assignment("officer", local("2026-10-01 08:00")).people) == 1
    assert (
        len(roster.assignment("officer", local("2027-01-15 12:00")).people) == 3
    )  # across new year


def test_swap_skip_and_override_say_why(township: Roster) -> None:
    roster = township
    swapped = roster.on_duty(local("2026-06-04 12:00")).assignments["officer"]
    assert swapped.people == ("sun.hao", "liu.yang")
    assert swapped.why("sun.hao").why is Why.SWAP
    assert swapped.why("liu.yang").why is Why.ROTATION
    assert [(r.person, r.why) for r in swapped.absent] == [("chen.jing", Why.SWAP)]

    skipped = roster.on_duty(local("2026-06-11 12:00")).assignments["officer"]
    assert skipped.people == ("sun.hao", "wu.qiang")
    assert skipped.why("wu.qiang").why is Why.SKIP
    assert "zhou.min" in skipped.why("wu.qiang").note
    assert skipped.absent[0].person == "zhou.min" and "请假" in skipped.absent[0].note

    replaced = roster.on_duty(local("2026-06-14 12:00")).assignments["leader"]
    assert replaced.people == ("li.ming",) and replaced.why("li.ming").why is Why.OVERRIDE
    assert "出差" in replaced.why("li.ming").note

    # an override for part of a shift: the shift stays 08:00-08:00, the people change at 20:00
    day = roster.on_duty(local("2026-06-20 19:59")).assignments["officer"]
    night = roster.on_duty(local("2026-06-20 20:00")).assignments["officer"]
    assert day.people == ("sun.hao", "zhou.min")
    assert night.people == ("sun.hao", "zhou.min", "tom.baker")
    assert day.start == night.start == local("2026-06-20 08:00")


def test_a_stand_in_is_the_next_free_member_and_nobody_free_is_a_gap(tmp_path: Path) -> None:
    extra = """
unavailable:
  - {person: a, from: 2026-06-01, to: 2026-06-01, reason: 请假}
  - {person: b, from: "2026-06-01 12:00", to: "2026-06-02 12:00", reason: 出差}
  - {person: c, from: 2026-06-01, to: 2026-06-03, reason: 培训}
"""
    roster = roster_from(
        tmp_path,
        basic(tmp_path, "  - {role: officer, members: [a, b, c], anchor: 2026-06-01}", extra),
    )
    # a is off on 1 June; b is off for part of the shift, c for all of it: nobody can stand in
    first = roster.assignment("officer", local("2026-06-01 09:00"))
    assert first.people == () and first.short == 1
    assert [r.person for r in first.absent] == ["a"]
    found = gaps(roster, local("2026-06-01 08:00"), local("2026-06-05 08:00"))
    assert [(g.role, g.start, g.end, g.missing) for g in found] == [
        ("officer", local("2026-06-01 08:00"), local("2026-06-02 08:00"), 1)
    ]
    # b (off until 12:00) and c (off until 4 June) are skipped; a is back and stands in
    for day in ("2026-06-02 09:00", "2026-06-03 09:00"):
        a = roster.assignment("officer", local(day))
        assert a.people == ("a",) and a.reasons[0].why is Why.SKIP


def test_removing_someone_leaves_a_gap_for_that_time_only(tmp_path: Path) -> None:
    extra = """
overrides:
  - {role: officer, from: "2026-06-02 14:00", to: "2026-06-02 18:00", remove: b, reason: 出差}
"""
    roster = roster_from(
        tmp_path, basic(tmp_path, "  - {role: officer, members: [a, b], anchor: 2026-06-01}", extra)
    )
    found = gaps(roster, local("2026-06-01 00:00"), local("2026-06-05 00:00"))
    assert [(g.start, g.end, g.present, g.required) for g in found] == [
        (local("2026-06-02 14:00"), local("2026-06-02 18:00"), (), 1)
    ]
    assert gaps(roster, local("2026-06-03 00:00"), local("2026-06-05 00:00")) == []


def test_the_duty_table_has_a_row_per_shift_and_splits_at_overrides(township: Roster) -> None:
    rows = shifts(township, date(2026, 6, 19), 3)
    spans = [(r.start, r.end) for r in rows]
    assert spans == [
        (local("2026-06-19 08:00"), local("2026-06-20 08:00")),
        (local("2026-06-20 08:00"), local("2026-06-20 20:00")),
        (local("2026-06-20 20:00"), local("2026-06-21 08:00")),
        (local("2026-06-21 08:00"), local("2026-06-22 08:00")),
    ]
    assert rows[2].assignments["officer"].people[-1] == "tom.baker"


def test_diff_names_people_and_moved_shifts(tmp_path: Path) -> None:
    old = load_rosters([TOWNSHIP_ROSTER], SHANGHAI)
    text = TOWNSHIP_ROSTER.read_text(encoding="utf-8")
    text = text.replace(
        "  - {person: zhou.min, from: 2026-06-10", "  - {person: zhou.min, from: 2026-06-01"
    )
    text = text.replace('"+8613800000002"}', '"+8613800000009"}')
    path = tmp_path / "township.yaml"
    path.write_text(text, encoding="utf-8")
    new = load_rosters([path], SHANGHAI)
    changes = diff(old, new, local("2026-06-01 08:00"), 7)
    assert changes.people_changed == ("wang.fang",)
    assert changes.people_added == changes.people_removed == ()
    moved = [(c.start, c.before, c.after) for c in changes.shifts]
    assert moved == [
        (local("2026-06-02 08:00"), ("sun.hao", "zhou.min"), ("sun.hao", "wu.qiang")),
        (local("2026-06-05 08:00"), ("chen.jing", "zhou.min"), ("chen.jing", "wu.qiang")),
    ]
    summary = changes.summary(SHANGHAI)
    assert summary[0] == "contact details changed: wang.fang"
    assert (
        summary[1]
        == "officer 2026-06-02 08:00 to 06-03 08:00: sun.hao, zhou.min -> sun.hao, wu.qiang"
    )
    assert not diff(old, old, local("2026-06-01 08:00"), 30)
    assert diff(old, old, local("2026-06-01 08:00"), 30).summary(SHANGHAI) == [
        "no change to who is on duty"
    ]


def test_naive_instants_are_refused(township: Roster) -> None:
    with pytest.raises(ValueError, match="time zone"):
        township.on_duty(datetime(2026, 6, 1, 9))


def test_the_plain_rotation_interface_still_answers(township: Roster) -> None:
    rotation = township.rotation("leader")
    a = rotation.shift_at(local("2026-06-02 09:00"))
    assert a.people == ("wang.fang",) and a.start == local("2026-06-02 08:00")
