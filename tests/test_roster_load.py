"""Loading rosters: the shipped example, merging files, and the corpus of malformed rosters."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from floodwatch.errors import ConfigError
from floodwatch.roster import load_rosters, mask_phone

from .helpers import TOWNSHIP_ROSTER, expected_problems
from .roster_support import PEOPLE, SHANGHAI, local, roster_from

BAD = Path(__file__).parent / "rosters_bad"
CORPUS = sorted(BAD.glob("*.yaml"))


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_each_malformed_roster_is_rejected_with_its_place(path: Path) -> None:
    """Each file starts with one ``# expect: LINE:COL: key.path: message`` per problem."""
    expected = expected_problems(path)
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(ConfigError) as exc:
        load_rosters([path], SHANGHAI)
    assert [str(p) for p in exc.value.problems] == expected


def test_the_shipped_township_roster() -> None:
    roster = load_rosters([TOWNSHIP_ROSTER], SHANGHAI)
    assert roster.roles == {"leader", "officer"}
    assert set(roster.people) == {
        "li.ming", "wang.fang", "zhao.lei", "chen.jing", "liu.yang", "sun.hao", "zhou.min",
        "wu.qiang", "tom.baker",
    }  # fmt: skip
    assert roster.role("leader").name == "带班领导"
    assert roster.timezone.key == "Asia/Shanghai"
    zhao = roster.person("zhao.lei")
    assert zhao.phone == "+8613800000003" and len(zhao.phones) == 2
    assert roster.person("li.ming").chat["wecom"] == "liming"
    assert roster.person("tom.baker").language == "en"
    # flood season: one leader and two officers; outside it one officer
    june = roster.on_duty(local("2026-06-01 09:00"))
    assert (june.people("leader"), june.people("officer")) == (
        ("li.ming",),
        ("chen.jing", "liu.yang"),
    )
    october = roster.on_duty(local("2026-10-10 09:00"))
    assert len(october.people("leader")) == 1 and len(october.people("officer")) == 1
    # the demo replays 27-28 May 2018: inside the season, so two officers and a leader
    replay = roster.on_duty(local("2018-05-28 03:30"))
    assert len(replay.people("leader")) == 1 and len(replay.people("officer")) == 2


def test_phone_numbers_stay_out_of_reprs_and_are_masked_for_display() -> None:
    roster = load_rosters([TOWNSHIP_ROSTER], SHANGHAI)
    person = roster.person("li.ming")
    assert "+86" not in repr(person) and "liming" not in repr(person)
    assert person.masked_phone == "+86138****0001"
    assert mask_phone("+14105550123") == "+14105**0123"
    assert mask_phone("+1234567") == "+1**4567"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_several_files_merge_and_refer_to_each_other(tmp_path: Path) -> None:
    office = write(
        tmp_path, "office.yaml",
        """
        version: 1
        roles: [{id: leader, name: 带班领导}]
        people:
          - {id: a, name: 甲}
        rotations:
          - {role: leader, members: [a], anchor: 2026-06-01}
        """,
    )  # fmt: skip
    village = write(
        tmp_path, "village.yaml",
        """
        version: 1
        roles: [{id: village.east, name: 东村责任人}]
        people:
          - {id: v1, name: 村一}
          - {id: v2, name: 村二}
        rotations:
          - {role: village.east, members: [v1, v2, a], shift: weekly, anchor: 2026-06-01}
        """,
    )  # fmt: skip
    roster = load_rosters([office, village], SHANGHAI)
    assert roster.roles == {"leader", "village.east"}
    duty = roster.on_duty(local("2026-06-09 09:00"))
    assert duty.people("village.east") == ("v2",)
    assert duty.assignments["village.east"].start == local("2026-06-08 08:00")


def test_ids_are_unique_across_files_and_one_bad_file_rejects_all(tmp_path: Path) -> None:
    first = write(
        tmp_path, "one.yaml",
        """
        version: 1
        people: [{id: a, name: 甲}]
        rotations: [{role: leader, members: [a], anchor: 2026-06-01}]
        """,
    )  # fmt: skip
    second = write(
        tmp_path, "two.yaml",
        """
        version: 1
        people: [{id: a, name: 甲二}]
        rotations: [{role: officer, members: [a], anchor: 2026-06-01}]
        """,
    )  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        load_rosters([first, second], SHANGHAI)
    assert [str(p) for p in exc.value.problems] == [
        f"{second}:3:11: people[0].id: duplicate person id 'a' (first at {first}:3)"
    ]


def test_roles_are_implied_by_rotations_when_no_file_declares_them(tmp_path: Path) -> None:
    roster = roster_from(
        tmp_path,
        f"""
        version: 1
        {textwrap.indent(PEOPLE, "        ").strip()}
        rotations:
          - {{role: leader, members: [a], anchor: 2026-06-01}}
        """,
    )
    assert roster.roles == {"leader"} and roster.role("leader").title == "leader"


def test_an_invalid_person_does_not_cause_unknown_person_errors_elsewhere(tmp_path: Path) -> None:
    path = write(
        tmp_path, "r.yaml",
        """
        version: 1
        people:
          - {id: a, name: 甲, phone: "0138"}
        rotations:
          - {role: leader, members: [a], anchor: 2026-06-01}
        """,
    )  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        load_rosters([path], SHANGHAI)
    assert [p.path for p in exc.value.problems] == ["people[0].phone"]


def test_a_missing_file_is_a_located_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_rosters([tmp_path / "nowhere.yaml"], SHANGHAI)
    assert str(exc.value) == f"{tmp_path / 'nowhere.yaml'}:1:1: file not found"


def test_a_file_with_a_bad_top_level_does_not_make_its_people_unknown_elsewhere(
    tmp_path: Path,
) -> None:
    office = write(
        tmp_path, "office.yaml",
        """
        version: 1
        timezone: Asia/Beijing
        people: [{id: a, name: 甲}]
        rotations: [{role: leader, members: [a], anchor: 2026-06-01}]
        """,
    )  # fmt: skip
    village = write(
        tmp_path, "village.yaml",
        """
        version: 1
        people: [{id: v, name: 村}]
        rotations: [{role: village, members: [v, a], anchor: 2026-06-01}]
        unavailable: [{person: a, from: 2026-06-02, to: 2026-06-03, reason: 出差}]
        """,
    )  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        load_rosters([office, village], SHANGHAI)
    assert [str(p) for p in exc.value.problems] == [
        f"{office}:3:1: timezone: unknown time zone 'Asia/Beijing' (expected e.g. 'Asia/Shanghai')"
    ]


def test_an_unknown_id_is_one_problem_however_often_it_is_used(tmp_path: Path) -> None:
    first = write(
        tmp_path, "one.yaml",
        """
        version: 1
        people: [{id: li.ming, name: 李明}, {id: b, name: 乙}]
        rotations: [{role: leader, members: [li.mign, b], anchor: 2026-06-01}]
        """,
    )  # fmt: skip
    second = write(
        tmp_path, "two.yaml",
        """
        version: 1
        unavailable:
          - {person: li.mign, from: 2026-06-02, to: 2026-06-03, reason: 出差}
          - {person: li.mign, from: 2026-07-02, to: 2026-07-03, reason: 出差}
        """,
    )  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        load_rosters([first, second], SHANGHAI)
    assert [str(p) for p in exc.value.problems] == [
        f"{first}:4:38: rotations[0].members[0]: unknown person 'li.mign' (not in the people of "
        f"any roster file); did you mean 'li.ming'? (also used at {second}:4, {second}:5)"
    ]
