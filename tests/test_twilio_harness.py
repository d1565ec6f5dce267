"""The harness itself (tests/twilio_support.py): a page the test did not expect fails it, an
expectation nothing meets fails it, and the fake refuses what Twilio refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from floodwatch.clock import SimulatedClock
from floodwatch.notify.base import Message, Outcome
from floodwatch.notify.channels.twilio_sms import TwilioSmsNotifier
from floodwatch.plugins import PluginContext
from floodwatch.yamlsource import EnvStr

from .twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OFFICE_NUMBERS,
    PUBLIC_URL,
    FakeTwilio,
    Phones,
    Webhooks,
)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    yield fake
    fake.close()


def sms(fake: FakeTwilio, from_numbers: list[str] = OFFICE_NUMBERS) -> TwilioSmsNotifier:
    context = PluginContext(
        base_dir=Path("."), clock=SimulatedClock(datetime(2026, 7, 1, tzinfo=UTC)),
        public_url=PUBLIC_URL, twilio_http=lambda: fake,
    )  # fmt: skip
    options = TwilioSmsNotifier.Options.model_validate(
        {"account_sid": ACCOUNT_SID, "auth_token": EnvStr(AUTH_TOKEN), "from_numbers": from_numbers}
    )
    return TwilioSmsNotifier("sms", options, context)


def page(to: str, text: str = "水位上涨") -> Message:
    return Message(1, "k1", "sun.hao", to, "zh-CN", "【黄色预警】", text, 1, 1)


def phones(fake: FakeTwilio) -> Phones:
    return Phones(fake, Webhooks(httpx.Client(base_url="http://127.0.0.1:9")))


def test_a_page_the_test_did_not_expect_fails_it(fake: FakeTwilio) -> None:
    p = phones(fake)
    sms(fake).send(page("+8613800000013"))
    sms(fake).send(page("+8613800000002"))
    p.expect_sms("+8613800000013", "水位")
    with pytest.raises(AssertionError, match=r"did not expect: .*SMS to \+8613800000002"):
        p.expect_no_more()
    p.expect_no_more()  # told once


def test_an_expectation_nothing_meets_fails(fake: FakeTwilio) -> None:
    p = phones(fake)
    sms(fake).send(page("+8613800000013"))
    with pytest.raises(AssertionError, match="expected an SMS to \\+8613800000013 containing"):
        p.expect_sms("+8613800000013", "红色")  # it came, but says something else
    with pytest.raises(AssertionError, match="expected a call to"):
        p.expect_call("+8613800000013")
    p.expect_sms("+8613800000013", "水位")
    with pytest.raises(AssertionError):  # each expectation takes one message
        p.expect_sms("+8613800000013", "水位")


def test_the_fake_refuses_what_twilio_refuses(fake: FakeTwilio) -> None:
    result = sms(fake).send(page("13800000013"))
    assert (result.outcome, result.provider_code) == (Outcome.PERMANENT, "21211")
    result = sms(fake, from_numbers=["+15005550009"]).send(page("+8613800000013"))
    assert (result.outcome, result.provider_code) == (Outcome.PERMANENT, "21212")
    assert fake.sms == []
