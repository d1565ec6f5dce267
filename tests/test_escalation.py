"""Escalation is data: the next step's time is stored; one tick advances whatever is due."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.store.models import AlertRow, PageRow

from .helpers import demo_readings, write_config

FLOOD = demo_readings()
OPENED_AT = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)  # 15:30 EST
UP_TO_OPENING = [r for r in FLOOD if r.observed_at <= OPENED_AT]


def opened(tmp_path: Path, database_url: str, **overrides: object) -> tuple[App, SimulatedClock]:
    clock = SimulatedClock(OPENED_AT)
    app = build_app(write_config(tmp_path, **overrides), clock=clock, database_url=database_url)
    app.db.upgrade()
    assert app.pipeline.ingest(UP_TO_OPENING, clock.now()).pages == 2
    return app, clock


def alert(app: App) -> AlertRow:
    with app.db.sessions() as s:
        return s.scalars(select(AlertRow)).one()


def paged_roles(app: App) -> list[str | None]:
    with app.db.sessions() as s:
        return list(s.scalars(select(PageRow.role).order_by(PageRow.id)))


def test_the_leader_is_paged_when_nobody_answers(tmp_path: Path, database_url: str) -> None:
    app, clock = opened(tmp_path, database_url)
    assert alert(app).next_escalation_at == OPENED_AT + timedelta(minutes=15)
    lifecycle = app.lifecycle
    assert lifecycle.escalate(OPENED_AT + timedelta(minutes=14, seconds=59)) == 0
    assert lifecycle.escalate(OPENED_AT + timedelta(minutes=15)) == 1
    assert paged_roles(app) == ["officer", "officer", "leader"]
    a = alert(app)
    assert a.escalation_step == 1
    assert a.next_escalation_at == OPENED_AT + timedelta(minutes=75)  # repeat_every: 1h


def test_an_acknowledgement_stops_escalation(tmp_path: Path, database_url: str) -> None:
    app, clock = opened(tmp_path, database_url)
    lifecycle = app.lifecycle
    lifecycle.acknowledge(alert(app).id, "sun.hao", "cli", OPENED_AT + timedelta(minutes=5))
    assert alert(app).next_escalation_at is None
    assert lifecycle.escalate(OPENED_AT + timedelta(hours=5)) == 0
    assert paged_roles(app) == ["officer", "officer"]


def test_a_restarted_process_continues_where_the_last_one_stopped(
    tmp_path: Path, database_url: str
) -> None:
    app, clock = opened(tmp_path, database_url)
    app.db.dispose()
    again = build_app(app.config.path, clock=clock, database_url=database_url)
    # a clock that jumped three hours: one tick moves each due alert one step, no burst
    assert again.lifecycle.escalate(OPENED_AT + timedelta(hours=3)) == 1
    assert alert(again).next_escalation_at == OPENED_AT + timedelta(hours=4)
    assert paged_roles(again) == ["officer", "officer", "leader"]


def test_without_repeat_the_policy_ends_at_its_last_step(tmp_path: Path, database_url: str) -> None:
    policy = {"steps": [{"notify": ["officer"]}, {"after": "10m", "notify": ["leader"]}]}
    app, clock = opened(tmp_path, database_url, escalation={"default": policy})
    lifecycle = app.lifecycle
    assert lifecycle.escalate(OPENED_AT + timedelta(minutes=10)) == 1
    assert alert(app).next_escalation_at is None
    assert lifecycle.escalate(OPENED_AT + timedelta(days=1)) == 0


def test_acknowledgements_are_checked(tmp_path: Path, database_url: str) -> None:
    app, clock = opened(tmp_path, database_url)
    lifecycle = app.lifecycle
    a = alert(app)
    with pytest.raises(NotFound, match="unknown person 'nobody'"):
        lifecycle.acknowledge(a.id, "nobody", "cli", clock.now())
    with pytest.raises(NotFound, match="no alert #999"):
        lifecycle.acknowledge(999, "sun.hao", "cli", clock.now())
    lifecycle.acknowledge(a.id, "wang.fang", "cli", clock.now())
    with pytest.raises(
        FloodwatchError, match="already acknowledged by wang.fang at 2018-05-28 04:30"
    ):
        lifecycle.acknowledge(a.id, "sun.hao", "cli", clock.now())
