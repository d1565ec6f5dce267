"""The duty console in a real browser: Debian's Chromium driven by Playwright (the system
browser through `executable_path`; Playwright never downloads one), on a phone-sized screen.

The service runs the demo flood's feed on a simulated clock (the test moves it: no sleeps for
the flood), the web app is the real one on uvicorn on a free loopback port, and the browser
waits for what a person would see (Playwright's expect polls, with a deadline). Screenshots go
to var/test-artefacts/console-browser/ (gitignored; the path is printed).

Without Chromium or Playwright the tests skip with the reason; with FLOODWATCH_REQUIRE_SERVICES=1
(CI, `.ci/run`) they fail instead.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from floodwatch import users
from floodwatch.clock import SimulatedClock
from floodwatch.service import Service
from floodwatch.store.models import AlertRow, EventRow, PageRow
from floodwatch.web.server import WebServer

from .conftest import need_service
from .helpers import ROOT, demo_readings
from .service_support import DEMO_FEED, drive, simulated

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the demo office's zone

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

log = logging.getLogger(__name__)

CHROMIUM = os.environ.get("FLOODWATCH_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = ROOT / "var" / "test-artefacts" / "console-browser"
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15's screen in CSS pixels
WAIT = 30_000  # ms: the most a browser wait may take (the page refreshes every 5 s)

FLOOD_DAY = demo_readings()[0].observed_at
EST_1500 = FLOOD_DAY + timedelta(hours=15)  # the river is rising, below flood stage
EST_1530 = FLOOD_DAY + timedelta(hours=15, minutes=30)  # the alert opens at yellow
EST_1550 = FLOOD_DAY + timedelta(hours=15, minutes=50)  # leader's step due at 15:45, if no ack
STEP = timedelta(minutes=5)
FEED = {**DEMO_FEED, "interval": "5m"}  # polled at every step, whenever a test runs the clock
# on duty at 15:30 EST (03:30 CST on 28 May): officers sun.hao and zhou.min, leader wang.fang
OFFICER, LEADER = "sun.hao", "wang.fang"
PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    have_playwright = importlib.util.find_spec("playwright") is not None
    need_service("Playwright", have_playwright, "pip install -e '.[test]' installs it")
    found = shutil.which(CHROMIUM)
    need_service("Chromium", found is not None, f"{CHROMIUM} not found (apt install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT)  # its own default is 5 s: one refresh of the live part

    with sync_playwright() as playwright:
        # as root (a container), Chromium runs only without its sandbox
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=found, args=args)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Duty:
    service: Service
    clock: SimulatedClock
    web: WebServer
    shots: Path

    def run_until(self, until: datetime) -> None:
        """The service's jobs, as the scheduler would run them, up to `until` (simulated)."""
        drive(self.service, self.clock, until, STEP)

    def alert(self) -> AlertRow:
        with self.service.app.db.sessions() as s:
            return s.scalars(select(AlertRow).where(AlertRow.rule_type == "threshold")).one()

    def pages_of(self, alert_id: int) -> list[PageRow]:
        with self.service.app.db.sessions() as s:
            return list(s.scalars(select(PageRow).where(PageRow.alert_id == alert_id)))

    def cleared_by(self, alert_id: int) -> dict[str, Any]:
        with self.service.app.db.sessions() as s:
            event = s.scalars(
                select(EventRow).where(EventRow.alert_id == alert_id, EventRow.type == "cleared")
            ).one()
        return dict(event.data["detail"])

    def shot(self, page: Page, name: str, **options: Any) -> Path:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), **options)
        log.info("screenshot: %s", path)
        return path


@pytest.fixture
def duty(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Duty]:
    """The demo flood's feed at 15:00 EST (no alert yet), the web app serving it."""
    service, clock = simulated(
        tmp_path, EST_1500, feeds=[FEED], duty={"roster_admins": ["li.ming"]},
        web={"listen": "127.0.0.1:0", "public_url": "http://127.0.0.1:8080"},
    )  # fmt: skip
    app = service.app
    for person in (OFFICER, LEADER):
        users.set_password(app.db, app.roster.current, person, PASSWORD, "test", clock.now())
    drive(service, clock, EST_1500, STEP)
    web = WebServer(app, listen="127.0.0.1:0")
    web.start()
    shots = ARTEFACTS / request.node.name
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Duty(service, clock, web, shots)
    finally:
        web.stop()
        plugins = request.config.pluginmanager
        reporter, capture = (
            plugins.get_plugin("terminalreporter"),
            plugins.get_plugin("capturemanager"),
        )
        if reporter is not None and capture is not None and any(shots.iterdir()):
            with capture.global_and_fixture_disabled():  # the path, past pytest's capture
                reporter.write_line(f"\nscreenshots: {shots}")


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A new page on a phone-sized screen, in a browser of its own (no shared cookies)."""
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    context.set_default_timeout(WAIT)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, url: str, person: str) -> None:
    page.goto(url + "/")
    page.locator("input[name=person]").fill(person)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(url + "/")
    from playwright.sync_api import expect

    expect(page.locator("#me")).to_have_attribute("data-person", person)


def test_an_officer_takes_the_alert_on_from_a_phone_and_the_leader_clears_it(
    phone: Page, duty: Duty
) -> None:
    from playwright.sync_api import expect

    url = duty.web.url
    page = phone
    sign_in(page, url, OFFICER)
    expect(page.locator("#no-alerts")).to_be_visible()
    page.evaluate("window.stillThisPage = true")  # gone if the page is loaded again

    duty.run_until(EST_1530)  # the river passes flood stage: the alert opens, officers paged
    alert = duty.alert()
    card = page.locator(f"#alerts [data-alert='{alert.id}']")
    expect(card).to_be_visible()  # the live part, refreshed without a reload
    assert page.evaluate("window.stillThisPage") is True
    shown = duty.clock.now().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    expect(page.locator("#server-time")).to_have_text(shown)  # the footer keeps up
    expect(card).to_have_attribute("data-level", "yellow")
    expect(card.locator(".escalation")).to_contain_text("第 1 步")
    expect(card.locator("button[value=ack]")).to_be_visible()
    duty.shot(page, "1-officer-now-alert")
    duty.shot(page, "1-officer-now-alert-full", full_page=True)

    card.locator("button[value=ack]").click()
    page.wait_for_url(url + "/")  # back to Now, not to the fragment the form came in
    expect(page.locator("#flash")).to_contain_text(f"#{alert.id}")
    expect(card.locator(".escalation .ok")).to_contain_text("孙浩")
    expect(card.locator("button[value=ack]")).to_have_count(0)
    acknowledged = duty.alert()
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_via) == (OFFICER, "web")
    duty.shot(page, "2-officer-acknowledged")

    # the leader's step was due at 15:45: at 15:50 (before the rise to orange at 15:52, which
    # would need a fresh acknowledgement) nobody past the first step has been paged
    duty.run_until(EST_1550)
    assert duty.alert().escalation_step == 0
    assert {p.step for p in duty.pages_of(alert.id)} == {0}
    page.reload()
    expect(card.locator(".escalation .ok")).to_be_visible()

    page.locator("form[action='/logout'] button").click()
    page.wait_for_url(url + "/login")
    sign_in(page, url, LEADER)
    page.goto(f"{url}/alerts/{alert.id}")
    expect(page.locator("#alert-state")).to_have_class("state state-open")
    page.on("dialog", lambda dialog: dialog.accept())  # "Declare this alert over?"
    page.locator("button[value=clear]").click()
    page.wait_for_url(f"{url}/alerts/{alert.id}")
    expect(page.locator("#alert-state")).to_have_class("state state-cleared")
    assert duty.alert().state == "cleared"
    assert duty.cleared_by(alert.id) == {"by": LEADER, "via": "web"}
    duty.shot(page, "3-leader-cleared", full_page=True)


def test_an_officer_cannot_clear_and_sees_the_leader_paged_when_nobody_answers(
    phone: Page, duty: Duty
) -> None:
    from playwright.sync_api import expect

    page = phone
    sign_in(page, duty.web.url, OFFICER)
    duty.run_until(EST_1550)  # nobody answers: the leader is paged
    alert = duty.alert()
    assert alert.escalation_step == 1
    card = page.locator(f"#alerts [data-alert='{alert.id}']")
    expect(card.locator(".escalation")).to_contain_text("第 2 步")
    expect(card.locator("button[value=clear]")).to_have_count(0)  # a leader's button


def test_the_page_says_plainly_when_it_has_lost_the_server(phone: Page, duty: Duty) -> None:
    from playwright.sync_api import expect

    page = phone
    sign_in(page, duty.web.url, OFFICER)
    lost = page.locator("#lost")
    expect(lost).to_be_hidden()
    duty.web.stop()
    expect(lost).to_be_visible()
    expect(lost).to_contain_text("已与服务器失去连接")
    duty.shot(page, "lost-the-server")
    duty.web.start()  # on the same port: the page finds it again by itself
    expect(lost).to_be_hidden()
