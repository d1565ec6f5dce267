"""Errors raised inside the library (the alert lifecycle, the records, durations) carry their
message in the catalogue: `text_of` gives the Mandarin or the English, `str()` stays the English,
and the exception classes callers catch are kept (NotFound, FloodwatchError, ValueError)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.durations import PositiveDuration, parse_duration
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.i18n import text_of
from floodwatch.records import days
from floodwatch.store.models import AlertRow

from .helpers import TOWNSHIP_ROSTER, demo_readings, fw, write_config
from .villages_support import DEMO_VILLAGES, VILLAGE_ROSTER

NO_LOCALE = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None}


@pytest.fixture
def app(tmp_path: Path) -> App:
    """The demo office with one open alert (the flood's yellow, at 15:45 EST)."""
    readings = demo_readings()[:64]
    clock = SimulatedClock(readings[-1].observed_at)
    built = build_app(write_config(tmp_path), clock=clock,
                      database_url=f"sqlite:///{tmp_path / 'floodwatch.db'}")  # fmt: skip
    built.db.upgrade()
    built.pipeline.ingest(readings, clock.now())
    return built


def open_alert(app: App) -> int:
    with app.db.sessions() as session:
        return session.scalars(select(AlertRow.id).where(AlertRow.state == "open")).one()


def test_acknowledging_an_unknown_alert_is_refused_in_the_readers_language(app: App) -> None:
    with pytest.raises(NotFound) as caught:
        app.lifecycle.acknowledge(999, "sun.hao", "cli", app.clock.now())
    assert str(caught.value) == "no alert #999"
    assert text_of(caught.value, "en") == "no alert #999"
    assert text_of(caught.value, "zh-CN") == "没有告警 #999"


def test_an_unknown_person_keeps_the_quoted_id_in_both_languages(app: App) -> None:
    with pytest.raises(NotFound) as caught:
        app.lifecycle.acknowledge(open_alert(app), "nobody", "cli", app.clock.now())
    assert str(caught.value) == "unknown person 'nobody': not in the rosters"
    assert text_of(caught.value, "zh-CN") == "未知人员 'nobody'：不在值班名单中"


def test_a_second_acknowledgement_names_who_and_when_in_mandarin(app: App) -> None:
    alert = open_alert(app)
    app.lifecycle.acknowledge(alert, "sun.hao", "cli", app.clock.now())
    with pytest.raises(FloodwatchError) as caught:
        app.lifecycle.acknowledge(alert, "li.ming", "cli", app.clock.now())
    at = app.office.local(app.clock.now())
    assert str(caught.value) == f"alert #{alert} was already acknowledged by sun.hao at {at}"
    assert text_of(caught.value, "zh-CN") == f"告警 #{alert} 已由 sun.hao 于 {at} 确认"


def test_an_alert_no_longer_open_names_its_state_in_the_readers_language(app: App) -> None:
    alert = open_alert(app)
    app.lifecycle.clear(alert, "li.ming", "web", app.clock.now())
    with pytest.raises(FloodwatchError) as caught:
        app.lifecycle.escalate_now(alert, "li.ming", "web", app.clock.now())
    assert str(caught.value) == f"alert #{alert} is cleared, not open"
    assert text_of(caught.value, "zh-CN") == f"告警 #{alert} 已解除，已不在进行中"


def test_a_bad_date_names_the_option_in_mandarin() -> None:
    with pytest.raises(FloodwatchError) as caught:
        days.parse_date("2018-13-01", "--date")
    assert str(caught.value) == "--date: expected a date as YYYY-MM-DD, found '2018-13-01'"
    assert text_of(caught.value, "zh-CN") == "--date：应为 YYYY-MM-DD 格式的日期，实为 '2018-13-01'"


def test_a_bad_duration_is_still_a_value_error_and_is_translated() -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration("15")
    assert isinstance(caught.value, FloodwatchError)
    assert str(caught.value) == "expected a duration such as '15m', '1h' or '90s', found '15'"
    assert text_of(caught.value, "zh-CN") == "应为 '15m'、'1h' 或 '90s' 这样的时长，实为 '15'"


def test_pydantic_still_turns_a_bad_duration_into_a_validation_error() -> None:
    """The config's duration fields rely on the error being a ValueError."""
    with pytest.raises(ValidationError, match="expected a duration longer than 0s, found '0s'"):
        TypeAdapter(PositiveDuration).validate_python("0s")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("zh_CN.UTF-8", "错误：没有告警 #999"), ("C.UTF-8", "error: no alert #999")],
    ids=["zh", "en"],
)
def test_the_command_line_shows_a_lifecycle_error_in_its_language(
    tmp_path: Path, lang: str, expected: str
) -> None:
    config = str(write_config(tmp_path))
    assert fw("db", "upgrade", "--config", config).returncode == 0
    ran = fw("ack", "999", "--by", "li.ming", "--config", config,
             env={**NO_LOCALE, "LANG": lang})  # fmt: skip
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines()[-1] == expected, ran.stderr


def test_a_village_refusal_renders_what_was_refused_in_mandarin(tmp_path: Path) -> None:
    """The refused action (a message of its own) is rendered in the reader's language too."""
    villages = DEMO_VILLAGES.read_text(encoding="utf-8").replace("village-speakers", "speakers")
    (tmp_path / "villages.yaml").write_text(villages, encoding="utf-8")
    config = str(
        write_config(
            tmp_path, rosters=[str(TOWNSHIP_ROSTER), str(VILLAGE_ROSTER)],
            villages=["villages.yaml"],
            notifiers=[{"name": "file", "type": "jsonl", "path": "pages.jsonl"},
                       {"name": "speakers", "type": "broadcast_mqtt", "port": 9, "timeout": "0.2s"}],
            clock={"start": "2026-06-01T10:00:00+08:00", "speed": 1},  # li.ming leads
        )
    )  # fmt: skip
    assert fw("db", "upgrade", "--config", config).returncode == 0
    args = ("villages", "warn", "hekou", "--level", "prepare", "--by", "chen.jing")
    zh = fw(*args, "--config", config, env={**NO_LOCALE, "LANG": "zh_CN.UTF-8"})
    en = fw(*args, "--config", config, env={**NO_LOCALE, "LANG": "C.UTF-8"})
    assert (zh.returncode, en.returncode) == (1, 1)
    assert en.stderr.strip().splitlines()[-1] == (
        "error: only the leader on duty may warn a village: chen.jing is not (leader on duty "
        "now: li.ming)"
    )
    assert zh.stderr.strip().splitlines()[-1] == (
        "错误：只有在岗的带班领导可以发布村组预警：chen.jing 不是（当前在岗的 leader：li.ming）"
    )
