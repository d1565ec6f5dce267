"""Signing in to the console: a wrong password or person gets one answer and no session; failed
sign-ins are limited per person and per address (on the limiter's own clock, moved by the test);
the sign-in form has its own CSRF token; sessions end when they are too old and on sign-out."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import Type
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from floodwatch import users
from floodwatch.store.models import RevokedSessionRow, UserRow
from floodwatch.web.sessions import COOKIE, LOGIN_CSRF, MAX_AGE, Sessions, web_key

from .console_support import ADMIN, OFFICER, OTHER_OFFICER, PASSWORD, Desk, csrf_of, demo_desk

WRONG = "not the password"


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield from demo_desk(tmp_path)


def login_token(desk: Desk) -> str:
    """The sign-in form's CSRF token (its cookie comes with it)."""
    form = desk.client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found, form.text
    return found.group(1)


def try_sign_in(desk: Desk, person: str, password: str, csrf: str | None = None) -> int:
    """A sign-in through the form: its status (303: signed in)."""
    token = login_token(desk) if csrf is None else csrf
    answer = desk.client.post(
        "/login", data={"person": person, "password": password, "csrf": token, "next": "/"},
        follow_redirects=False,
    )  # fmt: skip
    return answer.status_code


def signed_in(desk: Desk) -> bool:
    code = desk.client.get("/ping").status_code
    assert code in (204, 401)
    return code == 204


def error_of(desk: Desk, person: str, password: str) -> tuple[int, str]:
    answer = desk.client.post(
        "/login", data={"person": person, "password": password, "csrf": login_token(desk)},
        follow_redirects=False,
    )  # fmt: skip
    found = re.search(r'id="login-error">([^<]*)<', answer.text)
    return answer.status_code, found.group(1) if found else ""


def test_the_right_password_signs_in(desk: Desk) -> None:
    assert not signed_in(desk)
    assert try_sign_in(desk, OFFICER, PASSWORD) == 303
    assert signed_in(desk)
    assert desk.client.cookies.get(COOKIE)


def test_a_wrong_password_an_unknown_person_and_one_without_a_password_get_one_answer(
    desk: Desk,
) -> None:
    """Nothing tells whether the person exists, or has a password."""
    answers = {
        error_of(desk, OFFICER, WRONG),  # in the rosters, with a password
        error_of(desk, "no.such.person", PASSWORD),  # not in the rosters
        error_of(desk, "chen.jing", PASSWORD),  # in the rosters, without a password
        error_of(desk, OFFICER, ""),
    }
    assert answers == {(401, "人员不存在或密码错误。")}
    assert not signed_in(desk)
    assert desk.client.cookies.get(COOKIE) is None


def test_the_answer_is_in_english_for_an_english_browser(desk: Desk) -> None:
    desk.client.headers["Accept-Language"] = "en-GB,en;q=0.9"
    assert error_of(desk, OFFICER, WRONG) == (401, "Unknown person or wrong password.")


def test_after_five_failures_a_person_is_refused_even_with_the_right_password(
    desk: Desk,
) -> None:
    for _ in range(5):
        assert try_sign_in(desk, OFFICER, WRONG) == 401
    answer = desk.client.post(
        "/login", data={"person": OFFICER, "password": PASSWORD, "csrf": login_token(desk)},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "300"  # the limiter's clock did not move
    assert "登录失败次数过多：请等待 5 分钟后重试。" in answer.text
    assert not signed_in(desk)
    # someone else, from the same address, is not held up by it
    assert try_sign_in(desk, OTHER_OFFICER, PASSWORD) == 303
    desk.client.cookies.clear()
    # five minutes after the first failure, the person may try again
    desk.monotonic.now += 299
    assert try_sign_in(desk, OFFICER, PASSWORD) == 429
    desk.monotonic.now += 2
    assert try_sign_in(desk, OFFICER, PASSWORD) == 303
    assert signed_in(desk)


def test_a_success_forgets_the_persons_failures(desk: Desk) -> None:
    for _ in range(4):
        assert try_sign_in(desk, OFFICER, WRONG) == 401
    assert try_sign_in(desk, OFFICER, PASSWORD) == 303
    desk.client.cookies.clear()
    for _ in range(4):
        assert try_sign_in(desk, OFFICER, WRONG) == 401
    assert try_sign_in(desk, OFFICER, PASSWORD) == 303  # 8 failures in all, 4 since


def test_twenty_failures_from_one_address_hold_up_every_person_from_it(desk: Desk) -> None:
    """Guessing across many people from one address is limited too."""
    for i in range(20):
        assert try_sign_in(desk, f"guess.{i}", WRONG) == 401
    assert try_sign_in(desk, ADMIN, PASSWORD) == 429
    desk.monotonic.now += 301
    assert try_sign_in(desk, ADMIN, PASSWORD) == 303


def test_the_sign_in_form_needs_its_own_csrf_token(desk: Desk) -> None:
    """A sign-in posted from another site (login CSRF) has neither the cookie nor its token."""
    real = login_token(desk)
    assert try_sign_in(desk, OFFICER, PASSWORD, csrf="made-up") == 403
    assert try_sign_in(desk, OFFICER, PASSWORD, csrf="") == 403
    desk.client.cookies.delete(LOGIN_CSRF, path="/login")
    assert try_sign_in(desk, OFFICER, PASSWORD, csrf=real) == 403  # the token, not its cookie
    assert not signed_in(desk)
    assert try_sign_in(desk, OFFICER, PASSWORD) == 303  # a fresh form works


def aged_cookie(desk: Desk, person: str, age_seconds: int) -> str:
    """A session cookie, signed with the installation's key, issued `age_seconds` ago."""

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age_seconds

    key = web_key(desk.app.db, "session", desk.clock.now())
    serializer = URLSafeTimedSerializer(key, salt="floodwatch-session", signer=Then)
    return str(serializer.dumps({"s": f"aged-{age_seconds}", "p": person, "g": 1, "c": "token"}))


def test_a_session_ends_after_26_hours(desk: Desk) -> None:
    hours = int(MAX_AGE.total_seconds() // 3600)
    assert hours == 26
    for age, works in ((hours * 3600 - 60, True), (hours * 3600 + 60, False)):
        desk.client.cookies.clear()
        desk.client.cookies.set(COOKIE, aged_cookie(desk, OFFICER, age))
        assert signed_in(desk) is works
        page = desk.client.get("/", follow_redirects=False)
        assert (page.status_code, page.headers.get("location")) == (
            (200, None) if works else (303, "/login?next=/")
        )


def test_signing_out_ends_the_session_in_the_browser(desk: Desk) -> None:
    desk.sign_in(OFFICER)
    assert signed_in(desk)
    assert desk.post("/logout")[0] == 303
    assert desk.client.cookies.get(COOKIE) is None
    assert not signed_in(desk)
    assert desk.client.get("/", follow_redirects=False).headers["location"] == "/login?next=/"


def test_a_copy_of_the_cookie_dies_with_the_sign_out_and_other_sessions_stay(desk: Desk) -> None:
    desk.sign_in(OFFICER)
    phone = desk.client.cookies.get(COOKIE)
    desk.sign_in(OFFICER)  # the same person on a second device
    laptop = desk.client.cookies.get(COOKIE)
    assert phone and laptop and phone != laptop
    desk.client.cookies.set(COOKIE, phone)
    desk.csrf = csrf_of(desk.client.get("/").text)
    assert desk.post("/logout")[0] == 303
    desk.client.cookies.set(COOKIE, phone)  # what a thief copied before the sign-out
    assert not signed_in(desk)
    assert desk.client.post("/alerts/1/ack", data={"csrf": desk.csrf}).status_code == 401
    assert desk.the_alert().acknowledged_by is None
    desk.client.cookies.set(COOKIE, laptop)
    assert signed_in(desk)  # signing out on the phone leaves the laptop signed in
    with desk.app.db.sessions() as s:
        assert [r.person for r in s.scalars(select(RevokedSessionRow))] == [OFFICER]


def test_a_revocation_is_forgotten_once_its_cookie_would_have_expired(desk: Desk) -> None:
    wall = [datetime(2026, 11, 30, 12, 0, tzinfo=UTC)]
    sessions = Sessions(desk.app.db, lambda: web_key(desk.app.db, "session", desk.clock.now()),
                        wall=lambda: wall[0])  # fmt: skip
    with desk.app.db.sessions() as s:
        generations = {p: users.generation(s, p) or 0 for p in (OFFICER, OTHER_OFFICER)}
    first, second = (sessions.issue(p, g) for p, g in generations.items())
    assert sessions.read(first) is not None
    assert sessions.revoke(first) is not None and sessions.read(first) is None
    assert sessions.revoke(first) is None  # already signed out
    wall[0] += MAX_AGE + timedelta(minutes=1)
    assert sessions.revoke(second) is not None
    with desk.app.db.sessions() as s:
        kept = [(r.person, r.expires_at) for r in s.scalars(select(RevokedSessionRow))]
    assert kept == [(OTHER_OFFICER, wall[0] + MAX_AGE)]


def test_a_sign_in_goes_back_only_to_a_page_of_the_console(desk: Desk) -> None:
    for target, lands in (("/stations", "/stations"), ("https://evil.example/", "/"),
                          ("//evil.example/", "/"), ("/\\evil.example", "/")):  # fmt: skip
        desk.client.cookies.clear()
        answer = desk.client.post(
            "/login", data={"person": OFFICER, "password": PASSWORD, "csrf": login_token(desk),
                            "next": target}, follow_redirects=False,
        )  # fmt: skip
        assert (answer.status_code, answer.headers["location"]) == (303, lands)


def test_the_service_hashes_with_argon2id_at_rfc_9106_cost_and_upgrades_a_cheaper_hash(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the suite hashes cheaply (conftest.py); the service's own hasher, and what it does with a
    # password stored at a lower cost: the next sign-in stores it again at the service's cost
    strong = users.SERVICE_HASHER
    assert (strong.type, strong.time_cost, strong.memory_cost, strong.parallelism) == (
        Type.ID, 3, 65536, 4,
    )  # fmt: skip
    with desk.app.db.sessions() as s:
        cheap = s.get(UserRow, OFFICER)
        assert cheap is not None and cheap.password_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    monkeypatch.setattr(users, "_HASHER", strong)
    desk.sign_in(OFFICER)
    with desk.app.db.sessions() as s:
        row = s.get(UserRow, OFFICER)
        assert row is not None and row.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert row.generation == cheap.generation  # the same password, not a new one
    assert users.verify(desk.app.db, OFFICER, PASSWORD) == cheap.generation
