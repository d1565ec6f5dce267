"""Twilio's error codes, HTTP statuses and transport failures as outcomes: every entry of the one
table in twilio_common, through the real SDK and the fake's real-shaped answers.

The expected outcomes are written here again, independently: a change to the table must be a
change to this file too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException

from floodwatch.clock import SimulatedClock
from floodwatch.notify.base import Message, Outcome
from floodwatch.notify.channels.twilio_common import (
    API_ERRORS,
    DEFAULT_RETRY_AFTER,
    DELIVERY_PERMANENT,
    failure,
    status_outcome,
)
from floodwatch.notify.channels.twilio_sms import TwilioSmsNotifier
from floodwatch.notify.channels.twilio_voice import TwilioVoiceNotifier
from floodwatch.plugins import PluginContext
from floodwatch.yamlsource import EnvStr

from .twilio_support import ACCOUNT_SID, AUTH_TOKEN, OFFICE_NUMBERS, PUBLIC_URL, FakeTwilio

P, R, U = Outcome.PERMANENT, Outcome.RETRYABLE, Outcome.UNKNOWN
API_EXPECTED = {
    21211: (P, "invalid 'To'"), 21217: (P, "not appear to be valid"), 21610: (P, "unsubscribed"),
    21614: (P, "not a mobile number"), 13224: (P, "cannot call this number"),
    20003: (P, "check account_sid and auth_token"), 20404: (P, "check account_sid"),
    21212: (P, "check from_numbers"), 21606: (P, "check from_numbers"),
    21408: (P, "geographic permissions"), 21215: (P, "geographic permissions"),
    20429: (R, "too many requests"), 14107: (R, "rate limit"),
}  # fmt: skip
HTTP_STATUS = {20003: 401, 20404: 404, 20429: 429, 14107: 429}
TO = "+8613800000013"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    yield fake
    fake.close()


def notifier(fake: FakeTwilio, kind: str = "sms", timeout: str = "5s") -> Any:
    context = PluginContext(
        base_dir=Path("."), clock=SimulatedClock(datetime(2026, 7, 1, tzinfo=UTC)),
        public_url=PUBLIC_URL, twilio_http=lambda: fake,
    )  # fmt: skip
    options = {"account_sid": ACCOUNT_SID, "auth_token": EnvStr(AUTH_TOKEN),
               "from_numbers": OFFICE_NUMBERS, "timeout": timeout}  # fmt: skip
    plugin = TwilioSmsNotifier if kind == "sms" else TwilioVoiceNotifier
    return plugin(kind, plugin.Options.model_validate(options), context)


def page() -> Message:
    return Message(7, "k7", "sun.hao", TO, "zh-CN", "【黄色预警】", "水位 20.63 ft", 1, 1)


def test_the_table_is_the_one_written_here() -> None:
    assert set(API_ERRORS) == set(API_EXPECTED)


@pytest.mark.parametrize("shape", ["classic", "rfc9457"])
@pytest.mark.parametrize("kind", ["sms", "call"])
@pytest.mark.parametrize("code", sorted(API_EXPECTED))
def test_each_error_code_has_its_outcome(fake: FakeTwilio, code: int, kind: str,
                                         shape: str) -> None:  # fmt: skip
    outcome, words = API_EXPECTED[code]
    fake.reject(code, HTTP_STATUS.get(code, 400), f"Twilio says {code} about {TO}",
                problem=shape == "rfc9457")  # fmt: skip
    result = notifier(fake, kind).send(page())
    assert result.outcome is outcome, result
    assert result.provider_code == str(code)
    assert words in result.detail and f"twilio {code}" in result.detail
    assert TO not in result.detail and "+86138****0013" in result.detail  # numbers masked
    assert (result.retry_after == DEFAULT_RETRY_AFTER) is (outcome is R)
    assert fake.sms == [] and fake.calls == []


def test_a_429_says_when_to_try_again(fake: FakeTwilio) -> None:
    fake.reject(20429, 429, "Too Many Requests", headers={"Retry-After": "12"})
    result = notifier(fake).send(page())
    assert (result.outcome, result.retry_after) == (R, 12.0)
    fake.reject(None, 429, body="slow down", headers={"retry-after": "3"})
    result = notifier(fake).send(page())
    assert (result.outcome, result.retry_after, result.provider_code) == (R, 3.0, None)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_may_have_sent_the_page(fake: FakeTwilio, status: int) -> None:
    fake.reject(None, status, body="<html>Bad Gateway</html>")
    result = notifier(fake).send(page())
    assert result.outcome is U and result.provider_code is None
    assert f"HTTP {status}" in result.detail and "may have gone out" in result.detail
    fake.reject(20500, status, "Internal Server Error")  # Twilio's own 5xx code
    assert notifier(fake, "call").send(page()).outcome is U


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        (400, 21999, "Twilio refused the request"),
        (401, None, "check account_sid"),
        (403, 20005, "check account_sid"),
        (400, None, "Twilio refused the request"),
    ],  # fmt: skip
)
def test_other_refusals_are_permanent(fake: FakeTwilio, status: int, code: int | None,
                                      words: str) -> None:  # fmt: skip
    if code is None:
        fake.reject(None, status, body="{}")
    else:
        fake.reject(code, status, "no")
    result = notifier(fake).send(page())
    assert result.outcome is P and words in result.detail


def test_wrong_credentials_are_permanent_and_say_so(fake: FakeTwilio) -> None:
    fake.accounts[ACCOUNT_SID] = "the token Twilio has now"  # rotated in the console
    result = notifier(fake).send(page())
    assert (result.outcome, result.provider_code) == (P, "20003")
    assert "check account_sid and auth_token" in result.detail


def test_a_refused_connection_sent_nothing_and_is_retryable(fake: FakeTwilio) -> None:
    fake.refuse_connections()
    result = notifier(fake).send(page())
    assert result.outcome is R and "nothing sent" in result.detail
    assert "Connection refused" in result.detail


def test_a_timeout_may_have_sent_the_page(fake: FakeTwilio) -> None:
    fake.go_silent()
    result = notifier(fake, "call", timeout="0.3s").send(page())
    assert result.outcome is U and "may have gone out" in result.detail
    assert fake.timeouts == [0.3]  # the notifier's own timeout, on the request


def test_a_garbled_answer_may_have_sent_the_page(fake: FakeTwilio) -> None:
    fake.answer_garbled()
    result = notifier(fake).send(page())
    assert result.outcome is U and "could not be read" in result.detail


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (requests.ConnectTimeout("connect timed out"), R),
        (requests.exceptions.SSLError("handshake failed"), R),
        (requests.exceptions.ProxyError("proxy refused"), R),
        (requests.ReadTimeout("read timed out"), U),
        (requests.ConnectionError("Connection reset by peer"), U),
        (requests.exceptions.ChunkedEncodingError("broken body"), U),
        (TwilioException("Credentials are required to create a TwilioClient"), P),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_what_the_sdk_lets_through(exc: Exception, outcome: Outcome) -> None:
    result = failure(exc)
    assert result.outcome is outcome and result.detail


# -- status callbacks ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(DELIVERY_PERMANENT))
def test_each_delivery_code_that_no_resend_cures(code: int) -> None:
    for status in ("failed", "undelivered"):
        mapped = status_outcome(status, code)
        assert mapped is not None and mapped[0] is P and str(code) in mapped[1]


def test_the_delivery_codes_are_those_written_here() -> None:
    assert set(DELIVERY_PERMANENT) == {21211, 21610, 21614, 30005, 30006}


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        ("delivered", None, Outcome.DELIVERED),
        ("read", None, Outcome.DELIVERED),
        ("completed", None, Outcome.DELIVERED),
        ("busy", None, R),
        ("no-answer", None, R),
        ("canceled", None, R),
        ("failed", None, R),
        ("undelivered", 30003, R),
        ("undelivered", 30008, R),
        ("failed", 30007, R),
    ],  # fmt: skip
)
def test_status_callbacks_as_outcomes(status: str, code: int | None, outcome: Outcome) -> None:
    mapped = status_outcome(status, code)
    assert mapped is not None and mapped[0] is outcome


@pytest.mark.parametrize(
    "status",
    ["accepted", "scheduled", "queued", "sending", "sent", "initiated", "ringing", "in-progress"],
)
def test_statuses_on_the_way_change_nothing(status: str) -> None:
    assert status_outcome(status, None) is None
