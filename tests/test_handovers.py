"""Handovers and their reminders, computed per interval so each is announced exactly once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from floodwatch.roster import load_rosters
from floodwatch.roster.handovers import handovers, reminders

from .helpers import TOWNSHIP_ROSTER
from .roster_support import LONDON, PEOPLE, SHANGHAI, local, roster_from

TOWNSHIP = load_rosters([TOWNSHIP_ROSTER], SHANGHAI)


def test_the_township_hands_over_at_eight() -> None:
    found = handovers(TOWNSHIP, local("2018-05-27 20:00"), local("2018-05-28 20:00"))
    assert [h.at for h in found] == [local("2018-05-28 08:00")]
    h = found[0]
    assert h.outgoing == {"leader": ("wang.fang",), "officer": ("sun.hao", "zhou.min")}
    assert h.incoming == {"leader": ("zhao.lei",), "officer": ("wu.qiang", "tom.baker")}


def test_intervals_that_tile_time_announce_each_handover_once() -> None:
    start = local("2018-05-01 00:00")
    steps = [start + timedelta(hours=7 * i) for i in range(0, 25)]  # ~one week in odd steps
    seen = [h.at for a, b in zip(steps, steps[1:], strict=False) for h in handovers(TOWNSHIP, a, b)]
    assert seen == [local(f"2018-05-{d:02d} 08:00") for d in range(1, 8)]
    # an instant exactly at the handover belongs to the interval that ends there
    assert [
        h.at for h in handovers(TOWNSHIP, local("2018-05-02 07:00"), local("2018-05-02 08:00"))
    ] == [local("2018-05-02 08:00")]
    assert handovers(TOWNSHIP, local("2018-05-02 08:00"), local("2018-05-02 09:00")) == []


def test_a_reminder_comes_hours_before() -> None:
    due = reminders(
        TOWNSHIP, local("2018-05-27 21:00"), local("2018-05-27 22:00"), timedelta(hours=10)
    )
    assert [h.at for h in due] == [local("2018-05-28 08:00")]
    assert due[0].incoming["leader"] == ("zhao.lei",)


def test_handover_stays_at_eight_local_across_dst(tmp_path: Path) -> None:
    text = (
        "version: 1\ntimezone: Europe/London\n"
        + PEOPLE
        + 'rotations:\n  - {role: officer, members: [a, b, c], handover: "08:00", anchor: 2026-03-01}\n'
    )
    roster = roster_from(tmp_path, text, LONDON)
    found = handovers(roster, local("2026-03-28 12:00", LONDON), local("2026-03-30 12:00", LONDON))
    assert [h.at.astimezone(LONDON).strftime("%d %H:%M %Z") for h in found] == [
        "29 08:00 BST", "30 08:00 BST",
    ]  # fmt: skip
    # the shift of the 28th, across the spring-forward night, lasted 23 hours
    assert found[1].at - found[0].at == timedelta(hours=24)
    assert found[0].at - local("2026-03-28 08:00", LONDON) == timedelta(hours=23)
