"""The village desk from the command line: `floodwatch villages`, its warn, clear and moved,
`floodwatch broadcast`; who may do what, and what is recorded."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from floodwatch.app import build_app
from floodwatch.store.models import EventRow, LogEntryRow, PageRow

from .helpers import TOWNSHIP_ROSTER, fw, write_config
from .villages_support import DEMO_VILLAGES, VILLAGE_ROSTER

# the roster's shift of 2026-06-01 from 08:00 (Shanghai): li.ming leads
ON_DUTY = "2026-06-01T10:00:00+08:00"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    villages = DEMO_VILLAGES.read_text(encoding="utf-8").replace("village-speakers", "speakers")
    (tmp_path / "villages.yaml").write_text(villages, encoding="utf-8")
    path = write_config(
        tmp_path, rosters=[str(TOWNSHIP_ROSTER), str(VILLAGE_ROSTER)], villages=["villages.yaml"],
        notifiers=[
            {"name": "file", "type": "jsonl", "path": "pages.jsonl"},
            {"name": "speakers", "type": "broadcast_mqtt", "port": 9, "timeout": "0.2s"},
        ],
        cap={"sender": "fxb@shifan.example.cn"},
        clock={"start": ON_DUTY, "speed": 1},
    )  # fmt: skip
    assert fw("db", "upgrade", "--config", str(path)).returncode == 0
    return path


def run(config: Path, *args: str) -> tuple[int, str, str]:
    ran = fw(*args, "--config", str(config))
    return ran.returncode, ran.stdout, ran.stderr


def test_the_leader_on_duty_warns_and_clears_and_nobody_else_may(config: Path) -> None:
    code, out, err = run(config, "villages", "warn", "hekou", "--level", "prepare", "--by",
                         "chen.jing")  # fmt: skip
    assert code == 1 and "only the leader on duty may warn a village: chen.jing is not" in err
    code, out, err = run(config, "villages", "warn", "hekou", "--level", "prepare", "--by",
                         "li.ming")  # fmt: skip
    assert code == 0, err
    assert out.startswith("hekou: 准备转移 (prepare) issued; 叫应 alert #")
    code, _, err = run(config, "villages", "warn", "hekou", "--level", "prepare", "--by", "li.ming")
    assert code == 1 and "already has the prepare warning" in err
    assert run(config, "villages", "warn", "hekou", "--level", "move_now", "--by",
               "li.ming")[0] == 0  # fmt: skip

    code, out, _ = run(config, "villages")
    assert code == 0
    assert "河口村 (hekou)  108户335人  立即转移 (move_now) since" in out
    assert (
        "张建国" in out
        and "NOT ANSWERED" in out
        and "柳林村 (liulin)  84户260人  no warning" in out
    )
    # a report by a responsible person is also their answer
    code, out, err = run(config, "villages", "moved", "hekou", "--households", "12", "--people",
                         "35", "--by", "zhang.jianguo")  # fmt: skip
    assert code == 0, err
    assert out.strip() == "hekou: 12户35人 reported by zhang.jianguo; in all 12户35人"
    code, _, err = run(config, "villages", "moved", "hekou", "--households", "500", "--people",
                       "35", "--by", "zhang.jianguo")  # fmt: skip
    assert code == 1 and "108 households" in err
    code, _, err = run(config, "villages", "moved", "hekou", "--households", "1", "--people",
                       "1", "--by", "sun.li")  # fmt: skip
    assert code == 1 and "neither a responsible person of 河口村 nor on duty" in err
    code, out, _ = run(config, "villages", "--json")
    [hekou, liulin] = json.loads(out)
    assert hekou["warning"]["level"] == "move_now" and liulin["warning"] is None
    answered = {r["person"]: r["via"] for r in hekou["responsible"] if r["answered_at"]}
    assert answered == {"zhang.jianguo": "cli"}
    assert hekou["moved"]["households"] == 12 and hekou["moved"]["people"] == 35
    assert [s["id"] for s in hekou["loudspeakers"]] == ["hekou:g1", "hekou:g2", "hekou:g3"]

    code, _, err = run(config, "villages", "clear", "hekou", "--by", "zhang.jianguo")
    assert code == 1 and "only the leader on duty may clear" in err
    code, out, err = run(config, "villages", "clear", "hekou", "--by", "li.ming")
    assert code == 0 and out.strip() == "hekou: 立即转移 (move_now) cleared by li.ming"
    code, _, err = run(config, "villages", "clear", "hekou", "--by", "li.ming")
    assert code == 1 and "has no warning to clear" in err

    # CAP of the warning's round: issue, raise, clear
    with build_app(config).db.sessions() as s:
        alert = s.scalars(
            select(EventRow.alert_id).where(EventRow.type == "village_warned")
        ).first()
    code, out, err = run(config, "alerts", "--cap", str(alert))
    assert code == 0, err
    assert [line for line in out.splitlines() if "<msgType>" in line or "msgType" in line]
    assert out.count("<?xml") == 3 and "<msgType>Cancel</msgType>" in out


def test_a_broadcast_by_hand_is_recorded_with_who_and_where(config: Path) -> None:
    code, out, err = run(config, "broadcast", "--villages", "hekou,liulin", "--text",
                         "今晚有大暴雨，请不要到河边。", "--by", "sun.hao")  # fmt: skip
    assert code == 0, err
    assert out.strip().endswith("4 loudspeaker(s) queued")
    app = build_app(config)
    with app.db.sessions() as s:
        [event] = s.scalars(select(EventRow).where(EventRow.type == "broadcast")).all()
        pages = s.scalars(select(PageRow).where(PageRow.event_id == event.id)).all()
        [entry] = s.scalars(select(LogEntryRow).where(LogEntryRow.kind == "broadcast")).all()
    assert event.data == {
        "by": "sun.hao", "villages": ["hekou", "liulin"],
        "loudspeakers": ["hekou:g1", "hekou:g2", "hekou:g3", "liulin:all"],
        "text": "今晚有大暴雨，请不要到河边。", "drill": None,
    }  # fmt: skip
    assert [(p.person, p.address, p.role) for p in pages][-1] == ("liulin:all", "liulin",
                                                                  "loudspeaker")  # fmt: skip
    assert pages[0].body == "河口村一组的村民请注意：今晚有大暴雨，请不要到河边。"
    assert "sun.hao" in entry.text and "今晚有大暴雨" in entry.text
    for args, words in (
        (("--villages", "hekuo"), "unknown village 'hekuo'"),
        (("--villages", "hekou", "--by", "nobody"), "unknown person 'nobody'"),
    ):
        base = {"--text": "x", "--by": "sun.hao"}
        full = list(args) + [a for k, v in base.items() if k not in args for a in (k, v)]
        code, _, err = run(config, "broadcast", *full)
        assert code == 1 and words in err, err
    code, _, err = run(
        config, "broadcast", "--villages", "hekou", "--text", "  ", "--by", "sun.hao"
    )
    assert code == 1 and "the text is empty" in err


def test_the_leader_is_reminded_while_a_warning_stands(config: Path) -> None:
    app = build_app(config)
    now = datetime.fromisoformat(ON_DUTY)
    app.village_desk.warn("liulin", "move_now", "li.ming", now)
    assert app.village_desk.next_due() == now + timedelta(minutes=10)  # the wait of 叫应
    assert app.village_desk.tick(now + timedelta(minutes=29)) == 1  # who did not answer
    assert app.village_desk.tick(now + timedelta(minutes=31)) == 1  # the first reminder
    assert app.village_desk.tick(now + timedelta(minutes=45)) == 0
    assert app.village_desk.tick(now + timedelta(minutes=95)) == 1  # every 30 minutes
    with app.db.sessions() as s:
        reminders = s.scalars(select(PageRow).where(PageRow.subject.like("%仍在生效%"))).all()
    assert [p.person for p in reminders] == ["li.ming", "li.ming"]
    assert "floodwatch villages clear liulin --by" in reminders[0].body
    app.village_desk.clear("liulin", "li.ming", now + timedelta(minutes=96))
    assert app.village_desk.tick(now + timedelta(hours=5)) == 0
    assert app.village_desk.next_due() is None
    app.db.dispose()


def test_villages_without_a_database_say_so(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    code, _, err = run(path, "villages")
    assert code == 1 and "no database" in err
    assert os.path.exists(path)
