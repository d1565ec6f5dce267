"""`replay` on the shipped Ellicott City hydrograph: the whole pipeline on a simulated clock."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from floodwatch.events import COMMON, EVENT_TYPES
from floodwatch.replay import AckSpec, replay

from .helpers import DEMO_CONFIG, flood_day_csv, flood_day_readings, fw

LIFECYCLE = {"opened", "raised", "lowered", "cleared", "escalated", "acknowledged"}


def story(events: list[dict[str, Any]], channel: str = "pages-file") -> list[tuple[str, ...]]:
    """The gauge's alert: its lifecycle events, and each page delivered on one channel as
    ("paged", role, level) (the villages' warnings, at their own stations, are left out)."""
    out: list[tuple[str, ...]] = []
    for e in events:
        if e["station"] != "01589025":
            continue
        if e["type"] in LIFECYCLE:
            out.append((e["type"], e["level"] or "-"))
        elif e["type"] == "page_sent" and e["channel"] == channel:
            out.append(("paged", e["role"], e["level"]))
    return out


OFFICERS = [("paged", "officer", "yellow")] * 2


@cache
def leader_answers() -> tuple[dict[str, Any], ...]:
    """The demo flood's day replayed with the leader answering 25 minutes after each alert opens: a
    replay is deterministic, so the tests that read this one share it (per worker process)
    instead of each running the whole flood again."""
    return tuple(replay(DEMO_CONFIG, flood_day_readings(), [AckSpec.parse("leader@+25m")]))


def test_shipped_flood_with_the_leader_answering_after_25_minutes() -> None:
    events = list(leader_answers())
    assert story(events) == [
        ("opened", "yellow"),  # 15:30 EST, 20.63 ft
        *OFFICERS,  # both officers on duty
        ("escalated", "yellow"),  # 15 min without an acknowledgement
        ("paged", "leader", "yellow"),
        ("raised", "orange"),  # 15:52 EST, 27.16 ft: everyone told so far is told again
        ("paged", "officer", "orange"),
        ("paged", "officer", "orange"),
        ("paged", "leader", "orange"),
        ("acknowledged", "orange"),  # the leader, 25 min after opening
        ("lowered", "yellow"),
        *[("paged", role, "yellow") for role in ("officer", "officer", "leader")],
        ("lowered", "blue"),
        *[("paged", role, "blue") for role in ("officer", "officer", "leader")],
        ("cleared", "-"),
        *[("paged", role, "blue") for role in ("officer", "officer", "leader")],
    ]
    ack = next(e for e in events if e["type"] == "acknowledged")
    assert ack["role"] == "leader" and ack["at"] == "2018-05-28T04:55:00+08:00"
    opened = next(e for e in events if e["type"] == "opened")
    assert opened["at"] == "2018-05-28T04:30:00+08:00" and opened["value"] == 20.63


def test_without_an_answer_the_leader_is_called_again_until_the_water_falls() -> None:
    events = replay(DEMO_CONFIG, flood_day_readings())
    escalations = [e for e in events if e["type"] == "escalated"]
    # first at +15 min (step 1), then every hour (repeat_every: 1h) until the alert clears
    assert escalations[0]["at"] == "2018-05-28T04:45:00+08:00"
    assert [e["repeat"] for e in escalations[:2]] == [False, True]
    assert escalations[1]["at"] == "2018-05-28T05:45:00+08:00"
    cleared = next(e for e in events if e["type"] == "cleared")
    assert all(e["at"] < cleared["at"] for e in escalations)
    assert not any(e["type"] == "acknowledged" for e in events)


def test_events_are_in_time_order_and_every_page_is_accounted_for() -> None:
    events = list(leader_answers())
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    queued = {e["page"] for e in events if e["type"] == "page_queued"}
    sent = {e["page"] for e in events if e["type"] == "page_sent"}
    assert queued == sent and len(queued) > 0
    for e in events:  # each event has exactly the JSON shape of its type (floodwatch.events)
        assert list(e) == ["type", "at", *COMMON, *EVENT_TYPES[e["type"]].json_fields()]


def test_an_absolute_acknowledgement_by_a_person() -> None:
    events = replay(
        DEMO_CONFIG, flood_day_readings(), [AckSpec.parse("sun.hao@2018-05-27T15:40:00-05:00")]
    )
    ack = [e for e in events if e["type"] == "acknowledged" and e["station"] == "01589025"]
    assert [(a["by"], a["at"]) for a in ack] == [("sun.hao", "2018-05-28T04:40:00+08:00")]
    # acknowledged before the 15-minute step, so the leader is not paged for the opening; the
    # rise to orange at 15:52 needs a fresh acknowledgement, and 15 min later the leader is paged
    raised = next(e for e in events if e["type"] == "raised")
    first = next(e for e in events if e["type"] == "escalated")
    assert raised["at"] == "2018-05-28T04:52:00+08:00"
    assert first["at"] == "2018-05-28T05:07:00+08:00"


@pytest.mark.parametrize("text", ["leader", "leader@25m", "@+5m", "x@2018-05-27T15:40"])
def test_bad_ack_specs_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        AckSpec.parse(text)


def test_replay_json_through_the_command(tmp_path: Path) -> None:
    result = fw("replay", "--config", str(DEMO_CONFIG), "--readings", str(flood_day_csv(tmp_path)),
                "--json", "--ack", "leader@+25m")  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert story(events) == story(list(leader_answers()))
    assert events[0]["type"] == "opened"


def test_replay_refuses_an_unknown_acknowledger(tmp_path: Path) -> None:
    result = fw("replay", "--readings", str(flood_day_csv(tmp_path)),
                "--config", str(DEMO_CONFIG), "--ack", "nobody@+5m")  # fmt: skip
    assert result.returncode == 2
    assert "nobody" in result.stderr
