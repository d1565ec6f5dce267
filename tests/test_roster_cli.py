"""`floodwatch roster who|show|gaps|ical`, through click's runner: the `roster` group alone, and
as a subcommand of `floodwatch`."""

from __future__ import annotations

import json
from pathlib import Path

import icalendar
from click.testing import CliRunner

from floodwatch.cli_roster import roster

from .helpers import ENGLISH, TOWNSHIP_ROSTER, fw
from .helpers import write_config as write_full_config


def write_config(directory: Path, **overrides: object) -> Path:
    """A valid config; the roster commands need no rules, so none are written."""
    return write_full_config(directory, rules=[], **overrides)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(roster, list(args), env=ENGLISH)  # English whatever LANG says
    return result.exit_code, result.stdout, result.stderr


def gap_config(tmp_path: Path) -> Path:
    text = TOWNSHIP_ROSTER.read_text(encoding="utf-8")
    text += (
        '  - {role: officer, from: "2026-06-09 14:00", to: "2026-06-09 18:00", '
        "remove: tom.baker, reason: 出差}\n"
    )
    path = tmp_path / "township.yaml"
    path.write_text(text, encoding="utf-8")
    return write_config(tmp_path, rosters=[str(path)])


def test_who_names_the_shift_and_why(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, out, _ = run("who", "--config", str(config), "--at", "2026-06-04 10:00")
    assert code == 0
    assert "On duty at 2026-06-04 10:00 CST (Asia/Shanghai)" in out
    assert "带班领导 (leader)  2026-06-04 08:00 - 06-05 08:00" in out
    assert (
        "孙浩 (sun.hao)   +86138****0013  swap: swapped with chen.jing: 调班 (family matter)" in out
    )
    assert "not on duty: 陈静 (chen.jing): swap: swapped with sun.hao" in out
    assert "Next handover: 2026-06-05 08:00 CST" in out


def test_who_json_at_an_instant_with_an_offset(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    # 23:59:59 UTC on 31 May is 07:59:59 on 1 June in Shanghai: still the 31 May shift
    code, out, _ = run("who", "--config", str(config), "--at", "2026-05-31T23:59:59+00:00",
                       "--json", "--phones")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["at"] == "2026-06-01T07:59:59+08:00"
    leader, officer = data["roles"]
    assert leader["start"] == "2026-05-31T08:00:00+08:00"
    assert leader["people"][0] == {
        "id": "zhao.lei", "name": "赵磊", "phone": "+8613800000003", "why": "rotation", "note": "",
    }  # fmt: skip
    assert [p["id"] for p in officer["people"]] == ["wu.qiang", "tom.baker"]
    assert officer["required"] == 2 and officer["short"] == 0


def test_show_prints_a_table_with_notes_and_contacts(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, out, _ = run("show", "--config", str(config), "--from", "2026-06-03", "--days", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "2026-06-03 to 2026-06-05, times in Asia/Shanghai"
    assert lines[3].split() == ["Shift", "带班领导", "(leader)", "值班员", "(officer)"]
    assert lines[4].split() == ["2026-06-03", "Wed", "08:00", "-", "06-04", "08:00", "赵磊",
                                "吴强,", "Tom", "Baker"]  # fmt: skip
    assert lines[5].split()[-3:] == ["李明", "孙浩[1],", "刘洋"]
    assert "  [1] 孙浩 (sun.hao): swap: swapped with chen.jing: 调班 (family matter)" in lines
    assert "  李明 (li.ming)            +86138****0001" in lines
    code, out, _ = run("show", "--config", str(config), "--from", "2026-06-03", "--days", "2",
                       "--json")  # fmt: skip
    rows = json.loads(out)["rows"]
    assert [r["start"] for r in rows] == ["2026-06-03T08:00:00+08:00", "2026-06-04T08:00:00+08:00"]


def test_gaps_exit_0_when_covered_and_1_listing_each_gap(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, out, _ = run("gaps", "--config", str(config), "--from", "2026-06-01", "--days", "30")
    assert code == 0 and out.startswith("no gaps")
    config = gap_config(tmp_path)
    code, out, err = run("gaps", "--config", str(config), "--from", "2026-06-01", "--days", "30")
    assert code == 1
    assert out.splitlines() == [
        "值班员 (officer)  2026-06-09 14:00 - 18:00: 1 of 2 (on duty: wu.qiang)"
    ]
    assert "1 gap(s)" in err
    code, out, _ = run("gaps", "--config", str(config), "--from", "2026-06-01", "--days", "30",
                       "--json")  # fmt: skip
    assert code == 1
    assert json.loads(out)["gaps"] == [{
        "role": "officer", "start": "2026-06-09T14:00:00+08:00",
        "end": "2026-06-09T18:00:00+08:00", "required": 2, "present": ["wu.qiang"], "missing": 1,
    }]  # fmt: skip


def test_ical_for_a_person(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(
        roster, ["ical", "--config", str(config), "--person", "li.ming", "--from", "2026-06-01",
                 "--days", "9"],
    )  # fmt: skip
    assert result.exit_code == 0
    calendar = icalendar.Calendar.from_ical(result.stdout_bytes)
    summaries = [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")]
    assert summaries == ["带班领导 (leader): 李明"] * 3


def test_usage_errors_exit_2_and_roster_errors_exit_1(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert run("ical", "--config", str(config), "--person", "li.ming", "--role", "leader")[0] == 2
    assert run("ical", "--config", str(config), "--person", "nobody")[0] == 2
    assert run("ical", "--config", str(config), "--role", "driver")[0] == 2
    assert run("who", "--config", str(config), "--at", "tomorrow")[0] == 2
    assert run("who", "--config", str(config), "--at", "2026-06-01")[0] == 2
    assert run("show", "--config", str(config), "--from", "June")[0] == 2
    assert run("gaps", "--config", str(config))[0] == 2  # --days is required
    bad = tmp_path / "bad.yaml"
    text = TOWNSHIP_ROSTER.read_text(encoding="utf-8").replace(
        'handover: "08:00"', 'handover: "8h"', 1
    )
    bad.write_text(text, encoding="utf-8")
    line = text.splitlines().index('    handover: "8h"') + 1
    code, out, err = run("who", "--config", str(write_config(tmp_path, rosters=[str(bad)])))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f'{bad}:{line}:5: rotations[0].handover: expected a local time as "HH:MM" (e.g. "08:00"), '
        "found '8h'",
        "1 problem(s) found; nothing was changed.",
    ]


def test_the_floodwatch_roster_command(tmp_path: Path) -> None:
    config = gap_config(tmp_path)
    result = fw("roster", "gaps", "--config", str(config), "--from", "2026-06-09", "--days", "1")
    assert result.returncode == 1, result.stderr
    assert "2026-06-09 14:00 - 18:00: 1 of 2" in result.stdout
    result = fw("roster", "who", "--config", str(config), "--at", "2026-06-09 15:00", "--json")
    assert result.returncode == 0, result.stderr
    officer = json.loads(result.stdout)["roles"][1]
    assert officer["short"] == 1
    assert officer["absent"] == [{"id": "tom.baker", "why": "override", "note": "removed: 出差"}]
