"""Every state-changing endpoint of the web app, the console's forms and the API's POSTs alike,
refuses a request without a session (or token), from a person without the role it needs, and
(the forms) without the session's CSRF token; the API never takes the session cookie, so a
cross-site form cannot use it. Each refusal changes nothing. The table is checked against the
app's routes: a new state-changing endpoint fails this test until it is in the table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.routing import Route

from floodwatch import users
from floodwatch.store.models import (
    AlertRow,
    EventRow,
    HandoverRow,
    LogEntryRow,
    PageRow,
    UserRow,
    VillageWarningRow,
)
from floodwatch.web.sessions import COOKIE, Sessions, web_key

from .console_support import ADMIN, LEADER, OFFICER, Desk, demo_desk


@dataclass(frozen=True)
class Endpoint:
    path: str  # with {alert}
    role: str  # the role it needs: officer, leader, admin
    data: dict[str, Any]
    api: bool = False

    def url(self, desk: Desk) -> str:
        return self.path.format(alert=desk.alert)

    def __str__(self) -> str:
        return self.path


BROADCAST = {"village": "hekou", "text": "请注意防范"}
ENDPOINTS = [
    Endpoint("/alerts/{alert}/ack", "officer", {}),
    Endpoint("/alerts/{alert}/escalate", "officer", {}),
    Endpoint("/alerts/{alert}/clear", "leader", {}),
    Endpoint("/villages/hekou/clear", "leader", {}),
    Endpoint("/villages/broadcast", "leader", BROADCAST),
    Endpoint("/log", "officer", {"text": "县防办来电", "kind": "call"}),
    Endpoint("/handover", "officer", {"note": "水位回落"}),
    Endpoint("/handover/accept", "officer", {}),
    Endpoint("/people/zhou.min/password", "admin", {"password": "a new password"}),
    Endpoint("/logout", "officer", {}),
    Endpoint("/api/v1/alerts/{alert}/ack", "officer", {}, api=True),
    Endpoint("/api/v1/alerts/{alert}/escalate", "officer", {}, api=True),
    Endpoint("/api/v1/alerts/{alert}/clear", "leader", {}, api=True),
    Endpoint("/api/v1/villages/hekou/clear", "leader", {}, api=True),
    Endpoint("/api/v1/broadcast", "leader", {"villages": ["hekou"], "text": "请注意"}, api=True),
    Endpoint("/api/v1/log", "officer", {"text": "县防办来电"}, api=True),
    Endpoint("/api/v1/handover", "officer", {"note": "水位回落"}, api=True),
    Endpoint("/api/v1/handover/accept", "officer", {}, api=True),
]
# someone who lacks the role: an officer for the leader's and the administrator's actions
WRONG = {"leader": OFFICER, "admin": LEADER}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield from demo_desk(tmp_path)


def state(desk: Desk) -> tuple[Any, ...]:
    """Everything an endpoint could change."""
    with desk.app.db.sessions() as s:
        alert = s.get(AlertRow, desk.alert)
        assert alert is not None
        counts = tuple(
            s.scalar(select(func.count()).select_from(table))
            for table in (EventRow, LogEntryRow, HandoverRow, PageRow)
        )
        warnings = tuple(s.execute(select(VillageWarningRow.id, VillageWarningRow.state)))
        passwords = tuple(s.execute(select(UserRow.person, UserRow.generation)))
        return (alert.state, alert.acknowledged_by, alert.escalation_step, counts, warnings,
                passwords)  # fmt: skip


def send(desk: Desk, e: Endpoint, headers: dict[str, str] | None = None,
         csrf: str | None = None) -> int:  # fmt: skip
    if e.api:
        answer = desk.client.post(e.url(desk), json=e.data, headers=headers or {})
    else:
        data = dict(e.data) if csrf is None else {**e.data, "csrf": csrf}
        answer = desk.client.post(e.url(desk), data=data, headers=headers or {},
                                  follow_redirects=False)  # fmt: skip
    return answer.status_code


def test_the_table_is_every_state_changing_endpoint(desk: Desk) -> None:
    routes = {
        r.path.replace("{alert_id}", "{alert}").replace("{village_id}", "hekou")
        .replace("{person_id}", "zhou.min")
        for router in desk.client.app.state.routers  # type: ignore[attr-defined]
        for r in router.routes
        if isinstance(r, Route) and set(r.methods or ()) - {"GET", "HEAD"}
        and not r.path.startswith("/twilio/")  # Twilio's: signed requests, test_web_twilio
        and r.path != "/login"  # signing in needs no session; test_console_login tests its limits
    }  # fmt: skip
    assert routes == {e.path for e in ENDPOINTS}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_without_a_session_or_token_nothing_changes(desk: Desk, endpoint: Endpoint) -> None:
    before = state(desk)
    desk.client.cookies.clear()
    assert send(desk, endpoint, csrf="not-a-session-token") == 401
    assert state(desk) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_a_forged_or_foreign_session_changes_nothing(desk: Desk, endpoint: Endpoint) -> None:
    """A cookie not signed with this installation's key, and a session of someone no longer
    in the rosters (with a password still stored), are no session at all."""
    before = state(desk)
    foreign = Sessions(desk.app.db, lambda: "another installation's key").issue(OFFICER, 1)
    with desk.app.db.transaction() as s:
        s.add(UserRow(person="gone.away", password_hash="x", generation=1,
                      set_at=desk.clock.now(), set_by="test"))  # fmt: skip
    mine = Sessions(desk.app.db, lambda: web_key(desk.app.db, "session", desk.clock.now()))
    gone = mine.issue("gone.away", 1)
    for cookie in (foreign, gone):
        desk.client.cookies.clear()
        desk.client.cookies.set(COOKIE, cookie)
        token = desk.client.get("/ping")
        assert token.status_code == 401
        code = send(desk, endpoint, csrf=mine.read(cookie).csrf if mine.read(cookie) else "x")
        assert code == 401
    after = state(desk)
    assert after[:5] == before[:5]


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.api], ids=str)
def test_a_form_without_the_csrf_token_changes_nothing(desk: Desk, endpoint: Endpoint) -> None:
    desk.sign_in(ADMIN if endpoint.role == "admin" else LEADER)
    before = state(desk)
    assert send(desk, endpoint) == 403  # no token
    assert send(desk, endpoint, csrf="a-token-from-another-session") == 403
    assert state(desk) == before
    assert desk.client.get("/ping").status_code == 204  # still signed in


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.api], ids=str)
def test_the_api_does_not_take_the_session_cookie(desk: Desk, endpoint: Endpoint) -> None:
    """What a cross-site form could carry is the browser's cookie: the API needs a token."""
    desk.sign_in(LEADER)
    before = state(desk)
    assert send(desk, endpoint, headers={"X-CSRF-Token": desk.csrf}) == 401
    assert state(desk) == before


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.role != "officer"], ids=str)
def test_someone_without_the_role_is_refused_and_nothing_changes(
    desk: Desk, endpoint: Endpoint
) -> None:
    who = WRONG[endpoint.role]
    before = state(desk)
    if endpoint.api:
        assert send(desk, endpoint, headers=desk.bearer(who)) == 403
    else:
        csrf = desk.sign_in(who)
        assert send(desk, endpoint, csrf=csrf) == 403
    assert state(desk) == before


@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if e.role != "officer" and e.path != "/logout"], ids=str
)
def test_with_the_role_the_same_request_is_done(desk: Desk, endpoint: Endpoint) -> None:
    """The refusals above are for the role, not for the request: with it, it goes through."""
    who = ADMIN if endpoint.role == "admin" else LEADER
    before = state(desk)
    if endpoint.api:
        code = send(desk, endpoint, headers=desk.bearer(who))
        assert code == 200
    else:
        csrf = desk.sign_in(who)
        assert send(desk, endpoint, csrf=csrf) == 303
        assert "error" not in (desk.client.cookies.get("fw_flash") or "")
    assert state(desk) != before


def test_a_password_changed_ends_the_sessions_signed_for_the_old_one(desk: Desk) -> None:
    desk.sign_in(OFFICER)
    assert desk.client.get("/ping").status_code == 204
    users.set_password(desk.app.db, desk.app.roster.current, OFFICER, "another one", "test",
                       desk.clock.now())  # fmt: skip
    assert desk.client.get("/ping").status_code == 401
    before = state(desk)
    assert send(desk, ENDPOINTS[0], csrf=desk.csrf) == 401
    assert state(desk) == before
