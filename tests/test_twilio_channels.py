"""`twilio_sms` and `twilio_voice`: their options as a config file gives them, what they send
(the SMS text and its answer line, the call's TwiML), from which number, their capabilities and
limits, and secrets and numbers kept out of logs."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from floodwatch.app import build_app
from floodwatch.clock import SimulatedClock
from floodwatch.errors import ConfigError, FloodwatchError
from floodwatch.notify.base import Message, Outcome, capabilities_of, limits_of, sender_of
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.twilio_sms import MAX_SMS, TwilioSmsNotifier
from floodwatch.notify.channels.twilio_voice import TwilioVoiceNotifier
from floodwatch.plugins import PluginContext
from floodwatch.yamlsource import EnvStr

from .helpers import write_config
from .twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    ENV,
    OFFICE_NUMBERS,
    PUBLIC_URL,
    FakeTwilio,
    twilio_notifiers,
)

SUN_HAO = "+8613800000013"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    yield fake
    fake.close()


def build(fake: FakeTwilio, kind: str = "sms", public_url: str | None = PUBLIC_URL,
          base_dir: Path = Path("."), **options: Any) -> Any:  # fmt: skip
    context = PluginContext(
        base_dir=base_dir, clock=SimulatedClock(datetime(2026, 7, 1, tzinfo=UTC)),
        public_url=public_url, twilio_http=lambda: fake,
    )  # fmt: skip
    given = {"account_sid": ACCOUNT_SID, "auth_token": EnvStr(AUTH_TOKEN),
             "from_numbers": OFFICE_NUMBERS, **options}  # fmt: skip
    given = {k: v for k, v in given.items() if v is not None}
    plugin = TwilioSmsNotifier if kind == "sms" else TwilioVoiceNotifier
    return plugin(kind, plugin.Options.model_validate(given), context)


def page(language: str = "zh-CN", code: int | None = 3, body: str = "水位 20.63 ft，已达黄色预警。",
         to: str = SUN_HAO, page_id: int = 7) -> Message:  # fmt: skip
    return Message(page_id, f"k{page_id}", "sun.hao", to, language, "【黄色预警】Patapsco",
                   body, 1, code)  # fmt: skip


# -- options, as a config file gives them ------------------------------------------------------


def _load(tmp_path: Path, env: dict[str, str] | None = None, **sms: Any) -> ConfigError:
    notifiers = twilio_notifiers()
    notifiers[0].update(sms)
    notifiers[0] = {k: v for k, v in notifiers[0].items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        build_app(write_config(tmp_path, notifiers=notifiers), env=ENV if env is None else env)
    return caught.value


def test_both_channels_load_from_a_config_with_the_token_from_the_environment(
    tmp_path: Path,
) -> None:
    app = build_app(write_config(tmp_path, notifiers=twilio_notifiers()), env=ENV)
    sms, voice = app.notifiers["sms"], app.notifiers["voice"]
    assert isinstance(sms, TwilioSmsNotifier) and isinstance(voice, TwilioVoiceNotifier)
    assert sms.auth_token == voice.auth_token == AUTH_TOKEN
    assert AUTH_TOKEN not in repr(sms) and AUTH_TOKEN not in repr(voice)


def test_a_token_written_in_the_file_is_refused(tmp_path: Path) -> None:
    error = _load(tmp_path, auth_token="the-token-itself")
    assert "auth_token: secrets come from the environment" in str(error)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"auth_token": None}, "give auth_token (as ${VARIABLE}) or auth_token_file, one of them"),
        ({"auth_token_file": "token"}, "give auth_token (as ${VARIABLE}) or auth_token_file"),
        ({"account_sid": "AC123"}, "account_sid: String should match pattern"),
        ({"from_numbers": ["15005550006"]}, "expected E.164 numbers such as +15005550006"),
        ({"from_numbers": ["+15005550006", "+15005550006"]}, "a number is listed twice"),
        ({"from_numbers": []}, "give from_numbers, or messaging_service_sid, or both"),
        ({"messaging_service_sid": "MG12"}, "messaging_service_sid: String should match"),
        ({"timeout": "0s"}, "timeout: expected a duration longer than 0s"),
        ({"messages_per_second": 0}, "messages_per_second: Input should be greater than"),
        ({"region": "sg1"}, "region"),
    ],
    ids=[
        "no-token",
        "two-tokens",
        "account-sid",
        "not-e164",
        "twice",
        "no-sender",
        "service-sid",
        "timeout",
        "rate",
        "unknown-key",
    ],  # fmt: skip
)
def test_bad_sms_options_are_refused_at_their_place(
    tmp_path: Path, options: dict[str, Any], words: str
) -> None:
    error = _load(tmp_path, **options)
    assert words in str(error), str(error)
    assert "floodwatch.yaml:" in str(error) and "notifiers[" in str(error)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"from_numbers": []}, "a call needs at least one number to call from"),
        ({"voices": {"fr": {"language": "fr-FR", "voice": "Polly.Lea"}}}, "found fr"),
        ({"voices": {"en": {"language": "english", "voice": "x"}}}, "String should match"),
        ({"calls_per_second": 0}, "calls_per_second"),
    ],
)
def test_bad_voice_options_are_refused(tmp_path: Path, options: dict[str, Any],
                                       words: str) -> None:  # fmt: skip
    notifiers = twilio_notifiers()
    notifiers[1].update(options)
    with pytest.raises(ConfigError, match="notifiers\\[1\\]") as caught:
        build_app(write_config(tmp_path, notifiers=notifiers), env=ENV)
    assert words in str(caught.value)


def test_the_token_may_come_from_a_file(tmp_path: Path, fake: FakeTwilio) -> None:
    (tmp_path / "twilio.token").write_text(f"  {AUTH_TOKEN}\n", encoding="utf-8")
    sms = build(fake, base_dir=tmp_path, auth_token=None, auth_token_file="twilio.token")
    assert sms.auth_token == AUTH_TOKEN
    assert sms.send(page()).outcome is Outcome.ACCEPTED


@pytest.mark.parametrize("content", [None, "\n"], ids=["missing", "empty"])
def test_a_token_file_that_gives_no_token_stops_the_start(
    tmp_path: Path, fake: FakeTwilio, content: str | None
) -> None:
    if content is not None:
        (tmp_path / "twilio.token").write_text(content, encoding="utf-8")
    with pytest.raises(FloodwatchError, match="notifier sms: auth_token_file .*twilio.token"):
        build(fake, base_dir=tmp_path, auth_token=None, auth_token_file="twilio.token")


# -- the SMS ------------------------------------------------------------------------------------


def test_an_sms_ends_with_how_to_answer_in_the_persons_language(fake: FakeTwilio) -> None:
    sms = build(fake)
    assert sms.send(page()).outcome is Outcome.ACCEPTED
    assert sms.send(page("en", code=12)).outcome is Outcome.ACCEPTED
    zh, en = fake.sms
    assert (
        zh.body == "【黄色预警】Patapsco\n水位 20.63 ft，已达黄色预警。\n回复 3a 确认，3e 立即升级"
    )
    assert en.body.endswith("\nReply 12a to acknowledge, 12e to escalate now")
    assert zh.status_callback == f"{PUBLIC_URL}/twilio/status?page=7"
    assert zh.to == SUN_HAO and zh.from_ in OFFICE_NUMBERS


def test_a_page_without_a_code_has_no_answer_line(fake: FakeTwilio) -> None:
    build(fake).send(page(code=None))  # a handover reminder, a duty message
    assert fake.sms[0].body == "【黄色预警】Patapsco\n水位 20.63 ft，已达黄色预警。"


def test_a_long_page_is_cut_before_the_answer_line_never_after(fake: FakeTwilio) -> None:
    result = build(fake).send(page(body="水位上涨。" * 500))
    assert result.outcome is Outcome.ACCEPTED  # Twilio (the fake) refuses a body over 1600
    body = fake.sms[0].body
    assert len(body) == MAX_SMS
    assert body.endswith("…\n回复 3a 确认，3e 立即升级")


def test_without_a_web_app_nothing_can_be_answered(fake: FakeTwilio) -> None:
    sms, voice = build(fake, public_url=None), build(fake, "voice", public_url=None)
    assert not capabilities_of(sms).acknowledges and not capabilities_of(voice).acknowledges
    sms.send(page())
    voice.send(page())
    assert fake.sms[0].body.endswith("已达黄色预警。") and fake.sms[0].status_callback is None
    call = fake.calls[0]
    assert call.gather is None and call.status_callback is None
    assert call.says == ["【黄色预警】Patapsco", "水位 20.63 ft，已达黄色预警。"] * 2
    assert "按1" not in call.twiml


def test_the_sender_is_the_same_for_a_person_whichever_process_sends(fake: FakeTwilio) -> None:
    first, restarted = build(fake), build(fake)
    numbers = [f"+86138000{n:05d}" for n in range(40)]
    for number in numbers:
        first.send(page(to=number))
        restarted.send(page(to=number))
    by_person = {}
    for sms in fake.sms:
        assert by_person.setdefault(sms.to, sms.from_) == sms.from_
    assert set(by_person.values()) == set(OFFICE_NUMBERS)  # both numbers carry the load
    assert sender_of(first, page(to=numbers[0])) == by_person[numbers[0]]


def test_a_messaging_service_sends_when_no_number_is_given(fake: FakeTwilio) -> None:
    service = "MG" + "ab" * 16
    sms = build(fake, from_numbers=[], messaging_service_sid=service)
    assert sms.send(page()).outcome is Outcome.ACCEPTED
    assert (fake.sms[0].from_, fake.sms[0].messaging_service_sid) == (None, service)
    assert sender_of(sms, page()) == service


def test_capabilities_and_limits(fake: FakeTwilio) -> None:
    sms, voice = build(fake, messages_per_second=3), build(fake, "voice", calls_per_second=2)
    assert capabilities_of(sms).acknowledges and capabilities_of(voice).acknowledges
    assert not capabilities_of(sms).resend_safe and not capabilities_of(voice).resend_safe
    assert capabilities_of(sms).max_text == 1600
    assert limits_of(sms).sender == Limit(3, 1.0) and limits_of(sms).notifier is None
    assert limits_of(voice).notifier == Limit(2, 1.0)
    assert limits_of(build(fake)).sender == Limit(1, 1.0)  # a long code: one a second


def test_the_configured_timeout_is_kept_on_every_request(fake: FakeTwilio) -> None:
    build(fake, timeout="2.5s").send(page())
    build(fake, "voice", timeout="4s").send(page())
    assert fake.timeouts == [2.5, 4.0]


def test_log_lines_mask_the_number(fake: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    fake.reject(21211, 400, f"The 'To' number {SUN_HAO} is not a valid phone number.")
    with caplog.at_level(logging.INFO, logger="floodwatch.notify"):
        result = build(fake).send(page())
        build(fake, "voice").send(page())
    assert result.outcome is Outcome.PERMANENT
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert SUN_HAO not in text and AUTH_TOKEN not in text
    assert text.count("+86138****0013") >= 3  # the failure (twice: ours, Twilio's), the call


# -- the call -----------------------------------------------------------------------------------


def test_a_call_says_the_page_twice_and_waits_for_one_key(fake: FakeTwilio) -> None:
    assert build(fake, "voice").send(page(page_id=42)).outcome is Outcome.ACCEPTED
    call = fake.calls[0]
    gather = call.gather
    assert gather is not None
    action = urlsplit(gather.attrib["action"])
    assert f"{action.scheme}://{action.netloc}{action.path}" == f"{PUBLIC_URL}/twilio/voice"
    assert parse_qs(action.query) == {"page": ["42"]}
    assert (gather.attrib["numDigits"], gather.attrib["method"]) == ("1", "POST")
    said = ["【黄色预警】Patapsco", "水位 20.63 ft，已达黄色预警。", "按1确认，按2立即升级。"]
    assert call.says == said * 2
    for say in gather.iter("Say"):
        assert (say.attrib["language"], say.attrib["voice"]) == ("cmn-CN", "Polly.Zhiyu")
    root = call.root
    after = [child.tag for child in root]
    assert after == ["Gather", "Say", "Hangup"]  # no key: say so, hang up; nothing answered
    assert root[1].text == "没有收到按键，告警仍未确认。再见。"
    assert call.status_callback == f"{PUBLIC_URL}/twilio/status?page=42"
    assert call.from_ in OFFICE_NUMBERS


def test_a_call_in_english_and_voices_of_ones_choosing(fake: FakeTwilio) -> None:
    build(fake, "voice").send(page("en"))
    chosen = {"zh-CN": {"language": "cmn-CN", "voice": "Google.cmn-CN-Standard-A"}}
    build(fake, "voice", voices=chosen).send(page())
    build(fake, "voice", voices=chosen).send(page("en"))  # English keeps its default voice
    english, mandarin, english_too = fake.calls
    says = ET.fromstring(english.twiml).find("Gather")
    assert says is not None
    assert {(s.attrib["language"], s.attrib["voice"]) for s in says.iter("Say")} == {
        ("en-US", "Polly.Joanna")
    }
    assert english.says[2] == "Press 1 to acknowledge, 2 to escalate now."
    assert {s.attrib["voice"] for s in mandarin.root.iter("Say")} == {"Google.cmn-CN-Standard-A"}
    assert {s.attrib["voice"] for s in english_too.root.iter("Say")} == {"Polly.Joanna"}


def test_a_long_page_fits_the_twiml_twilio_takes(fake: FakeTwilio) -> None:
    assert build(fake, "voice").send(page(body="水位上涨。" * 600)).outcome is Outcome.ACCEPTED
    assert len(fake.calls[0].twiml) <= 4000 and fake.calls[0].says[0].endswith("…")


def test_a_call_does_not_read_out_the_command_written_for_a_screen() -> None:
    from floodwatch.notify.channels.twilio_voice import Speech, call_twiml

    body = "示范镇防汛办：Patapsco水位20.63 ft，已达黄色预警。\n告警 #1\n请立即确认：floodwatch ack 1 --by 您的编号"
    message = Message(1, "k", "sun.hao", "+8613800000013", "zh-CN", "【黄色预警】Patapsco", body)
    speech = Speech(language="cmn-CN", voice="Polly.Zhiyu")
    twiml = call_twiml(message, speech, "https://fw.example.org")
    said = " ".join(s.text or "" for s in ET.fromstring(twiml).iter("Say"))
    assert "已达黄色预警" in said and "floodwatch ack" not in said
