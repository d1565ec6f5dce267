"""The way back from the phone, in GoAlert's manner: the real demo flood on a simulated clock,
the dispatcher paging through the real Twilio SDK into the recording fake, and the officers
answering through the web app with requests signed as Twilio signs them.

Patapsco's stage crosses the yellow line at 15:30 EST on 27 May 2018 (04:30 on the 28th in
Shanghai): the two officers on duty are texted and called; the leader is paged 15 minutes later
unless one of them answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from floodwatch.app import App
from floodwatch.clock import SimulatedClock
from floodwatch.notify.channels.twilio_common import DELIVERY_PERMANENT
from floodwatch.service import Service
from floodwatch.store.models import AlertRow, DeliveryRow, EventRow, InboundRow, PageRow
from floodwatch.web.app import create_app

from .helpers import demo_readings
from .twilio_support import (
    OFFICE_NUMBERS,
    OTHER_TOKEN,
    PUBLIC_URL,
    ExpectedCall,
    ExpectedSms,
    FakeTwilio,
    Phones,
    Webhooks,
    message_text,
    run_until,
    spoken,
    twilio_service,
)

FLOOD = demo_readings()
EST_1530 = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)  # yellow: the alert opens
ESCALATION = timedelta(minutes=15)  # the demo policy: the leader after 15 minutes
# (the stage reaches orange at 15:52, 22 minutes in: the stories end before that)
# on duty then (the shift that began at 08:00 on 27 May, Shanghai time)
OFFICERS = {"sun.hao": "+8613800000013", "zhou.min": "+8613800000014"}
LEADER = ("wang.fang", "+8613800000002")
HINT = "回复 1a 确认，1e 立即升级"
PROMPT = "按1确认，按2立即升级。"


@dataclass
class Story:
    service: Service
    clock: SimulatedClock
    phones: Phones
    fake: FakeTwilio

    @property
    def app(self) -> App:
        return self.service.app

    def run(self, until: timedelta) -> None:
        """The service's jobs up to `until` after the alert opened."""
        run_until(self.service, self.clock, EST_1530 + until)

    def the_alert(self) -> AlertRow:
        with self.app.db.sessions() as s:
            return s.scalars(select(AlertRow)).one()

    def events(self, type_: str) -> list[EventRow]:
        with self.app.db.sessions() as s:
            return list(s.scalars(select(EventRow).where(EventRow.type == type_)))

    def pages(self, **where: object) -> list[PageRow]:
        with self.app.db.sessions() as s:
            query = select(PageRow).filter_by(**where).order_by(PageRow.id)
            return list(s.scalars(query))

    def inbound(self) -> int:
        with self.app.db.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(InboundRow)) or 0)

    def officers_paged(self) -> dict[str, tuple[ExpectedSms, ExpectedCall]]:
        """The alert opens: each officer on duty gets an SMS naming the reply code, and a call
        that says the page twice and how to answer; nobody else gets anything."""
        self.run(timedelta(0))
        paged = {}
        for person, phone in OFFICERS.items():
            sms = self.phones.expect_sms(phone, "黄色预警", "告警 #1")
            assert sms.body.endswith("\n" + HINT), sms.body
            call = self.phones.expect_call(phone, "黄色预警", PROMPT)
            paged[person] = (sms, call)
        self.phones.expect_no_more()
        return paged


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    fake = FakeTwilio()
    service, clock = twilio_service(tmp_path, EST_1530, fake)
    duty = service.app.roster.current.on_duty(EST_1530)
    assert set(duty.people("officer")) == set(OFFICERS)
    assert duty.people("leader") == (LEADER[0],)
    with TestClient(create_app(service.app)) as client:
        phones = Phones(fake, Webhooks(client))
        yield Story(service, clock, phones, fake)
        phones.expect_no_more()  # a page the test did not expect fails it
    fake.close()


# -- answers that stop the escalation ----------------------------------------------------------


def test_an_sms_reply_acknowledges_and_the_leader_is_never_paged(story: Story) -> None:
    paged = story.officers_paged()
    sms, _ = paged["sun.hao"]
    assert sms.reply("1a") == "已确认告警#1，升级已停止。"
    alert = story.the_alert()
    assert (alert.acknowledged_by, alert.acknowledged_via) == ("sun.hao", "sms")
    assert alert.acknowledged_at == story.clock.now()
    [ack] = story.events("acknowledged")
    assert (ack.data["by"], ack.data["via"], ack.data["role"]) == ("sun.hao", "sms", "officer")
    story.run(ESCALATION + timedelta(minutes=5))  # the leader's time comes, and passes
    story.phones.expect_no_more()
    assert story.pages(person=LEADER[0]) == []
    assert story.events("escalated") == []


def test_keypress_1_on_the_call_acknowledges_and_the_leader_is_never_paged(story: Story) -> None:
    paged = story.officers_paged()
    _, call = paged["zhou.min"]
    assert call.call.gather is not None and call.call.gather.attrib["numDigits"] == "1"
    said = spoken(call.press("1"))
    assert said == "已确认告警#1，升级已停止。"
    alert = story.the_alert()
    assert (alert.acknowledged_by, alert.acknowledged_via) == ("zhou.min", "voice")
    story.run(ESCALATION + timedelta(minutes=5))
    story.phones.expect_no_more()
    assert story.pages(person=LEADER[0]) == []


def test_keypress_2_pages_the_leader_at_once(story: Story) -> None:
    _, call = story.officers_paged()["sun.hao"]
    assert spoken(call.press("2")) == "告警#1已立即升级，正在通知下一级。"
    story.service.dispatch()  # no time has passed
    story.phones.expect_sms(LEADER[1], "告警 #1", HINT)
    story.phones.expect_call(LEADER[1], PROMPT)
    [escalated] = story.events("escalated")
    assert (escalated.at, escalated.data["by"]) == (story.clock.now(), "sun.hao")
    assert story.the_alert().acknowledged_at is None  # escalating is not answering


def test_code_e_pages_the_leader_at_once(story: Story) -> None:
    sms, _ = story.officers_paged()["zhou.min"]
    assert sms.reply("1e") == "告警#1已立即升级，正在通知下一级。"
    story.service.dispatch()
    story.phones.expect_sms(LEADER[1], "告警 #1")
    story.phones.expect_call(LEADER[1])


@pytest.mark.parametrize("reply", ["1", "ok", "确认", "1确认", "１Ａ", " 1A。"])
def test_other_ways_of_saying_yes(story: Story, reply: str) -> None:
    sms, _ = story.officers_paged()["sun.hao"]
    assert sms.reply(reply) == "已确认告警#1，升级已停止。"
    assert story.the_alert().acknowledged_via == "sms"


def test_anything_else_gets_help_and_changes_nothing(story: Story) -> None:
    sms, _ = story.officers_paged()["sun.hao"]
    help_text = sms.reply("what is this?")
    assert help_text == "未能识别。回复 1a 确认告警#1，1e 立即升级。回复 1 确认最近一条。"
    assert sms.reply("7a").startswith("未能识别。")  # a code this phone was never given
    assert story.the_alert().acknowledged_at is None


def test_help_in_english_for_an_english_speaker_with_nothing_to_answer(story: Story) -> None:
    story.officers_paged()
    answer = story.phones.webhooks.inbound_sms("+8613800000016", OFFICE_NUMBERS[0], "1a")
    assert message_text(answer.text) == "No open alert waits for your answer."  # Tom Baker


def test_a_second_answer_is_told_who_answered_first(story: Story) -> None:
    paged = story.officers_paged()
    assert paged["sun.hao"][0].reply("1a") == "已确认告警#1，升级已停止。"
    assert spoken(paged["zhou.min"][1].press("1")) == "告警#1已由孙浩确认。"
    assert story.the_alert().acknowledged_by == "sun.hao"
    assert len(story.events("acknowledged")) == 1


def test_a_key_that_means_nothing_says_the_choice_again(story: Story) -> None:
    _, call = story.officers_paged()["sun.hao"]
    again = call.press("9")
    assert spoken(again) == PROMPT + "\n没有收到按键，告警仍未确认。再见。"
    assert f'action="{call.call.action.replace("&", "&amp;")}"' in again
    assert "<Hangup" in again
    assert story.the_alert().acknowledged_at is None
    assert spoken(call.press("1")) == "已确认告警#1，升级已停止。"  # the second chance counts


# -- requests that are not Twilio's --------------------------------------------------------------


def _tampered(webhooks: Webhooks, url: str, params: dict[str, str]) -> str:
    """A signature Twilio made for other parameters (the body was changed on the way)."""
    return webhooks.sign(url, {**params, "Body": "1e"})


@pytest.mark.parametrize(
    "how",
    [
        {"signature": None},
        {"signature": "bm90IGEgc2lnbmF0dXJlIGF0IGFsbA=="},
        {"token": OTHER_TOKEN},
        {"signature": "tampered"},
    ],
    ids=["unsigned", "forged", "signed-with-another-token", "body-changed-after-signing"],
)
def test_a_request_not_signed_by_twilio_is_refused_and_changes_nothing(
    story: Story, how: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    story.officers_paged()
    before = story.inbound()
    hooks = story.phones.webhooks
    url = f"{PUBLIC_URL}/twilio/sms"
    params = {"MessageSid": "SM" + "f" * 32, "From": OFFICERS["sun.hao"],
              "To": OFFICE_NUMBERS[0], "Body": "1a"}  # fmt: skip
    if how.get("signature") == "tampered":
        how = {"signature": _tampered(hooks, url, params)}
    with caplog.at_level(logging.WARNING, logger="floodwatch.web"):
        answer = hooks.post(url, params, **how)
    assert (answer.status_code, answer.text) == (403, "forbidden\n")
    assert story.the_alert().acknowledged_at is None
    assert story.inbound() == before
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "+86138****0013" in line and OFFICERS["sun.hao"] not in line


def test_keypresses_and_status_callbacks_must_be_signed_too(story: Story) -> None:
    paged = story.officers_paged()
    sms, call = paged["sun.hao"]
    for post in (
        lambda: story.phones.webhooks.keypress(call.call, "1", signature=None),
        lambda: story.phones.webhooks.keypress(call.call, "2", token=OTHER_TOKEN),
        lambda: story.phones.webhooks.sms_status(sms.sms, "delivered", signature="x"),
        lambda: story.phones.webhooks.call_status(call.call, "completed", token=OTHER_TOKEN),
    ):
        assert post().status_code == 403
    assert story.the_alert().acknowledged_at is None
    assert {p.status for p in story.pages()} == {"accepted"}
    assert story.events("escalated") == []


def test_a_signature_for_another_page_is_refused(story: Story) -> None:
    """The page is part of the signed URL: a keypress signed for one page cannot act on another."""
    _, call = story.officers_paged()["sun.hao"]
    hooks = story.phones.webhooks
    other_page = call.call.action.replace("page=", "page=9")
    params = {"CallSid": call.call.sid, "Digits": "1", "From": call.call.from_, "To": call.call.to}
    signature = hooks.sign(call.call.action, params)
    assert hooks.post(other_page, params, signature=signature).status_code == 403
    assert hooks.post(call.call.action, params, signature=signature).status_code == 200


def test_a_replayed_request_is_refused_and_acts_once(story: Story) -> None:
    paged = story.officers_paged()
    hooks = story.phones.webhooks
    sid = "SM" + "a" * 32
    first = hooks.inbound_sms(OFFICERS["sun.hao"], OFFICE_NUMBERS[0], "1a", sid=sid)
    assert message_text(first.text) == "已确认告警#1，升级已停止。"
    replayed = hooks.inbound_sms(OFFICERS["sun.hao"], OFFICE_NUMBERS[0], "1a", sid=sid)
    assert replayed.status_code == 403
    assert len(story.events("acknowledged")) == 1
    # a keypress replayed: the escalation happens once
    _, call = paged["zhou.min"]
    assert call.press("2")
    assert hooks.keypress(call.call, "2").status_code == 403
    assert len(story.events("escalated")) == 1
    story.service.dispatch()
    story.phones.expect_sms(LEADER[1])
    story.phones.expect_call(LEADER[1])


def test_an_sms_from_a_number_nobody_has_gets_nothing(
    story: Story, caplog: pytest.LogCaptureFixture
) -> None:
    story.officers_paged()
    with caplog.at_level(logging.WARNING, logger="floodwatch.web"):
        answer = story.phones.webhooks.inbound_sms("+8613999990000", OFFICE_NUMBERS[0], "1a")
    assert answer.status_code == 200
    assert message_text(answer.text) == "" and "<Message" not in answer.text
    assert story.the_alert().acknowledged_at is None
    [line] = [r.getMessage() for r in caplog.records if "nobody on the roster" in r.getMessage()]
    assert "+86139****0000" in line and "+8613999990000" not in line


# -- status callbacks ----------------------------------------------------------------------------


def _page_of(story: Story, sid: str) -> PageRow:
    """The page whose delivery Twilio knows as `sid`."""
    with story.app.db.sessions() as s:
        return s.scalars(
            select(PageRow).join(DeliveryRow).where(DeliveryRow.provider_id == sid)
        ).one()


def test_delivered_confirms_the_page_and_a_late_word_never_moves_it_back(story: Story) -> None:
    sms, call = story.officers_paged()["sun.hao"]
    assert sms.status("sent").status_code == 204  # on its way: nothing to record
    assert _page_of(story, sms.sms.sid).status == "accepted"
    assert sms.status("delivered").status_code == 204
    assert _page_of(story, sms.sms.sid).status == "delivered"
    assert len(story.events("page_confirmed")) == 1
    assert sms.status("delivered").status_code == 403  # the same callback again: a replay
    assert sms.status("undelivered", 30003).status_code == 204  # late, and contradicting
    assert _page_of(story, sms.sms.sid).status == "delivered"
    assert len(story.events("page_confirmed")) == 1
    assert call.status("completed").status_code == 204  # a call answered: delivered ...
    assert _page_of(story, call.call.sid).status == "delivered"
    assert story.the_alert().acknowledged_at is None  # ... and not acknowledged


def test_undelivered_for_a_passing_reason_is_sent_again(story: Story) -> None:
    sms, _ = story.officers_paged()["sun.hao"]
    assert sms.status("undelivered", 30003).status_code == 204  # the handset is off
    page = _page_of(story, sms.sms.sid)
    assert page.status == "pending"
    [retry] = story.events("page_retry")
    assert "30003" in retry.data["detail"]
    story.run(timedelta(minutes=1))  # the backoff (30 s) is over
    again = story.phones.expect_sms(OFFICERS["sun.hao"], HINT)
    assert again.sms.sid != sms.sms.sid and again.body == sms.body


@pytest.mark.parametrize("code", sorted(DELIVERY_PERMANENT))
def test_undelivered_for_good_fails_the_page(story: Story, code: int) -> None:
    sms, _ = story.officers_paged()["zhou.min"]
    assert sms.status("failed", code).status_code == 204
    assert _page_of(story, sms.sms.sid).status == "failed"
    [failed] = story.events("page_failed")
    assert str(code) in failed.data["detail"]
    assert story.app.lifecycle.next_escalation() == EST_1530 + ESCALATION  # the alert goes on


def test_a_callback_before_the_send_is_recorded_waits_for_the_record(story: Story) -> None:
    """Twilio may call back before the dispatcher has written down the SID it got."""
    sms, _ = story.officers_paged()["sun.hao"]
    with story.app.db.transaction() as s:
        delivery = s.scalars(
            select(DeliveryRow).where(DeliveryRow.provider_id == sms.sms.sid)
        ).one()
        delivery.provider_id = None  # as it is until the dispatcher records the outcome
        delivery_id = delivery.id

    def record_it() -> None:
        with story.app.db.transaction() as s:
            row = s.get(DeliveryRow, delivery_id)
            assert row is not None
            row.provider_id = sms.sms.sid

    recorder = threading.Timer(0.5, record_it)
    recorder.start()
    try:
        assert sms.status("delivered").status_code == 204
    finally:
        recorder.join()
    assert _page_of(story, sms.sms.sid).status == "delivered"


@pytest.mark.parametrize("status", ["busy", "no-answer"])
def test_a_call_nobody_answers_is_made_again_and_acknowledges_nothing(
    story: Story, status: str
) -> None:
    _, call = story.officers_paged()["sun.hao"]
    assert call.status(status).status_code == 204
    assert _page_of(story, call.call.sid).status == "pending"
    story.run(timedelta(minutes=1))
    story.phones.expect_call(OFFICERS["sun.hao"], PROMPT)
    assert story.the_alert().acknowledged_at is None
