"""Properties of resolution over generated rosters, in zones with and without DST."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from floodwatch.roster import Roster, load_rosters

ZONES = ["Asia/Shanghai", "Europe/London", "America/New_York", "Australia/Sydney"]
SHIFTS = {"24h": timedelta(days=1), "12h": timedelta(hours=12), "8h": timedelta(hours=8),
          "weekly": timedelta(days=7), "2d": timedelta(days=2)}  # fmt: skip
NAMES = ["p0", "p1", "p2", "p3", "p4", "p5"]


@st.composite
def rosters(draw: st.DrawFn, unavailable: bool = False) -> tuple[Roster, dict[str, int]]:
    zone = draw(st.sampled_from(ZONES))
    m = draw(st.integers(1, len(NAMES)))
    k = draw(st.integers(1, m))
    season_k = draw(st.integers(1, m))
    shift = draw(st.sampled_from(sorted(SHIFTS)))
    hour, minute = draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))
    anchor = draw(st.dates(datetime(2020, 1, 1).date(), datetime(2030, 12, 31).date()))
    people = "\n".join(f"  - {{id: {p}, name: {p}}}" for p in NAMES)
    text = f"""version: 1
timezone: {zone}
people:
{people}
rotations:
  - role: officer
    members: [{", ".join(NAMES[:m])}]
    per_shift: {k}
    shift: {shift}
    handover: "{hour:02}:{minute:02}"
    anchor: {anchor}
seasons:
  - {{name: flood, from: "05-01", to: "09-30", staffing: {{officer: {season_k}}}}}
"""
    if unavailable:
        spans = draw(st.lists(st.tuples(st.sampled_from(NAMES[:m]), st.integers(0, 400),
                                        st.integers(1, 96)), max_size=8))  # fmt: skip
        text += "unavailable:\n" if spans else "unavailable: []\n"
        base = datetime(2026, 1, 1)
        for person, day, hours in spans:
            start = base + timedelta(days=day)
            end = start + timedelta(hours=hours)
            text += (
                f'  - {{person: {person}, from: "{start:%Y-%m-%d %H:%M}", '
                f'to: "{end:%Y-%m-%d %H:%M}", reason: leave}}\n'
            )
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "r.yaml"
        path.write_text(text, encoding="utf-8")
        roster = load_rosters([path], ZoneInfo(zone))
    return roster, {"hour": hour, "minute": minute, "k": k, "season_k": season_k}


instants = st.datetimes(datetime(2019, 1, 1), datetime(2031, 1, 1), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(rosters(), instants)
def test_every_instant_has_exactly_the_configured_staffing(
    case: tuple[Roster, dict[str, int]], at: datetime
) -> None:
    roster, params = case
    rotation = roster.rotation("officer")
    a = roster.assignment("officer", at)
    n = rotation.index_at(at)
    start_day = rotation.local_start(n).date()
    in_season = (5, 1) <= (start_day.month, start_day.day) <= (9, 30)
    assert len(a.people) == (params["season_k"] if in_season else params["k"]) == a.required
    assert len(set(a.people)) == len(a.people)
    assert a.start.astimezone(UTC) <= at < a.end.astimezone(UTC)
    assert a.duration <= rotation.length + timedelta(hours=1)
    assert a.duration >= rotation.length - timedelta(hours=1)


@settings(max_examples=150, deadline=None)
@given(rosters(), instants, st.integers(1, 24 * 20))
def test_segments_tile_a_range_and_each_is_fully_staffed(
    case: tuple[Roster, dict[str, int]], start: datetime, hours: int
) -> None:
    roster, _ = case
    end = start + timedelta(hours=hours)
    segments = list(roster.segments("officer", start, end))
    assert segments[0][0] == start and segments[-1][1] == end
    for (_, e1, _), (s2, _, _) in zip(segments, segments[1:], strict=False):
        assert e1 == s2
    for s, e, a in segments:
        assert s < e and a.short == 0
        assert roster.assignment("officer", s) == a
        assert roster.assignment("officer", e - timedelta(microseconds=1)) == a


@settings(max_examples=200, deadline=None)
@given(rosters(unavailable=True), st.datetimes(datetime(2025, 12, 1), datetime(2027, 3, 1),
                                                timezones=st.just(UTC)))  # fmt: skip
def test_unavailable_people_are_skipped_and_the_free_fill_the_shift(
    case: tuple[Roster, dict[str, int]], at: datetime
) -> None:
    roster, _ = case
    rotation = roster.rotation("officer")
    a = roster.assignment("officer", at)
    start, end = a.start.astimezone(UTC), a.end.astimezone(UTC)
    free = [p for p in rotation.members if roster.busy(p, start, end) is None]
    assert all(p in free for p in a.people)
    assert len(a.people) == min(a.required, len(free))
    assert {r.person for r in a.reasons} == set(a.people)
