"""What the console tests share: the demo flood at 15:30 EST (the alert open at yellow, 河口村
warned to prepare), the demo's villages and loudspeakers, people with passwords, and a client
that signs in through the form as a person would."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from floodwatch import tokens, users
from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.store.models import AlertRow, EventRow, LogEntryRow
from floodwatch.web.app import create_app
from floodwatch.web.sessions import LoginLimiter

from .helpers import ROOT, TOWNSHIP_ROSTER, demo_readings, write_config

FLOOD = demo_readings()
EST_1530 = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)  # the alert opens (yellow)
VILLAGE_ROSTER = ROOT / "rosters" / "villages.yaml"
DEMO_VILLAGES = ROOT / "config" / "villages.yaml"
WEB = {"listen": "127.0.0.1:0", "public_url": "http://127.0.0.1:8080"}

# on duty at 15:30 EST (03:30 CST on 28 May): leader wang.fang, officers sun.hao and zhou.min;
# li.ming is a leader (not on duty) and the roster administrator
OFFICER, OTHER_OFFICER, LEADER, ADMIN = "sun.hao", "zhou.min", "wang.fang", "li.ming"
PASSWORD = "correct horse"


class FakeMonotonic:
    """The sign-in limiter's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Records:
    """The app under test and the alert the demo flood opened, as a test reads them back."""

    app: App
    clock: SimulatedClock
    alert: int

    def bearer(self, person: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens.issue(self.app.db, person, self.clock.now())}"}

    def the_alert(self) -> AlertRow:
        with self.app.db.sessions() as s:
            return s.scalars(select(AlertRow).where(AlertRow.id == self.alert)).one()

    def events(self, type_: str) -> list[EventRow]:
        with self.app.db.sessions() as s:
            return list(s.scalars(select(EventRow).where(EventRow.type == type_)))


@dataclass
class Desk(Records):
    client: TestClient
    monotonic: FakeMonotonic
    csrf: str = ""
    signed_in: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def sign_in(self, person: str, password: str = PASSWORD) -> str:
        """Through the sign-in form; returns the session's CSRF token."""
        self.client.cookies.clear()
        form = self.client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text
        answer = self.client.post(
            "/login", data={"person": person, "password": password, "csrf": token.group(1),
                            "next": "/"}, follow_redirects=False,
        )  # fmt: skip
        assert answer.status_code == 303, answer.text
        self.csrf = csrf_of(self.client.get("/").text)
        self.signed_in = person
        return self.csrf

    def post(self, path: str, **data: str | list[str]) -> tuple[int, str]:
        """A form posted with the session's CSRF token: (status, the message shown after)."""
        answer = self.client.post(path, data={"csrf": self.csrf, **data}, follow_redirects=False)
        if answer.status_code == 303:
            shown = self.client.get(answer.headers["location"])
            flash = re.search(r'id="flash">([^<]*)<', shown.text)
            return 303, flash.group(1) if flash else ""
        refusal = re.search(r'id="refusal">([^<]*)<', answer.text)
        return answer.status_code, refusal.group(1) if refusal else answer.text

    def log_entries(self) -> list[LogEntryRow]:
        with self.app.db.sessions() as s:
            return list(s.scalars(select(LogEntryRow).order_by(LogEntryRow.id)))


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf" content="([^"]*)"', html)
    assert found, html[:500]
    return found.group(1)


# the database of each desk built in this process, by its overrides: the flood up to 15:30 and
# five passwords take a third of a second to build, and about 200 tests start from one
_DESKS: dict[str, bytes] = {}


def demo_desk(tmp_path: Path, **overrides: object) -> Iterator[Desk]:
    """The demo flood at 15:30 EST with the demo's villages; everyone named above, and the
    village cadre zhao.mei, has the password PASSWORD. Built once per process and overrides;
    each test gets a copy of that database."""
    villages = tmp_path / "villages.yaml"
    shutil.copy(DEMO_VILLAGES, villages)
    settings: dict[str, object] = {
        "web": WEB,
        "rosters": [str(TOWNSHIP_ROSTER), str(VILLAGE_ROSTER)],
        "villages": [str(villages)],
        "duty": {"roster_admins": [ADMIN]},
        "notifiers": [
            {"name": "file", "type": "jsonl", "path": "pages.jsonl"},
            {"name": "village-speakers", "type": "broadcast_mqtt", "host": "127.0.0.1",
             "topic": "floodwatch-test/broadcast", "timeout": "5s"},
        ],
    }  # fmt: skip
    settings.update(overrides)
    clock = SimulatedClock(EST_1530)
    config = write_config(tmp_path, **settings)
    key = json.dumps(overrides, sort_keys=True, default=str)
    if key in _DESKS:  # the same desk built before in this process: its database copied
        (tmp_path / "floodwatch.db").write_bytes(_DESKS[key])
        app = build_app(config, clock=clock)
    else:
        app = build_app(config, clock=clock)
        app.db.upgrade()
        app.pipeline.ingest([r for r in FLOOD if r.observed_at <= EST_1530], clock.now())
        for person in (OFFICER, OTHER_OFFICER, LEADER, ADMIN, "zhao.mei"):
            users.set_password(app.db, app.roster.current, person, PASSWORD, "test", clock.now())
        app.db.dispose()  # the last connection closed: SQLite writes its WAL into the file
        _DESKS[key] = (tmp_path / "floodwatch.db").read_bytes()
    with app.db.sessions() as s:
        alert = s.scalars(
            select(AlertRow.id).where(AlertRow.rule_type == "threshold", AlertRow.state == "open")
        ).one()
    monotonic = FakeMonotonic()
    with TestClient(create_app(app, LoginLimiter(monotonic=monotonic))) as client:
        yield Desk(app, clock, alert, client, monotonic)
    app.db.dispose()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield from demo_desk(tmp_path)
