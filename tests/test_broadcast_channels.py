"""The broadcast channels beyond their contract (tests/test_notifier_contract.py): what a
gateway's answer means, what reaches the broker, what a loudspeaker's call and SMS say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from floodwatch.notify.base import Message, Outcome, capabilities_of
from floodwatch.notify.channels.broadcast_call import BroadcastCallNotifier
from floodwatch.notify.channels.broadcast_http import BroadcastHttpNotifier
from floodwatch.notify.channels.broadcast_mqtt import BroadcastMqttNotifier
from floodwatch.notify.channels.broadcast_sms import BroadcastSmsNotifier
from floodwatch.plugins import PluginContext
from floodwatch.yamlsource import EnvStr

from .conftest import need_service, port_open
from .harness_broadcast import GATEWAY_KEY, BrokerProxy, Gateway, Loudspeakers, loudspeaker
from .harness_channels import Reply, Sink, build, context
from .twilio_support import ACCOUNT_SID, AUTH_TOKEN, OFFICE_NUMBERS, FakeTwilio

SPOKEN = "紧急通知！河口村一组的村民请注意：现在发布立即转移命令！请马上离开家，立即转移到河口村小学操场。"


def broadcast(address: str, key: str = "inst:41:hekou:g1:speakers") -> Message:
    return Message(12, key, "hekou:g1", address, "zh-CN", "【立即转移】河口村一组",
                   SPOKEN, alert_id=7)  # fmt: skip


@pytest.fixture
def sink() -> Any:
    s = Sink()
    yield s
    s.stop()


def gateway_notifier(sink: Sink, tmp_path: Path, **options: Any) -> BroadcastHttpNotifier:
    (tmp_path / "gateway.key").write_text(GATEWAY_KEY, encoding="utf-8")
    base = {"url": sink.url + "/api/tts", "secret_file": "gateway.key", "timeout": "1s"}
    notifier: BroadcastHttpNotifier = build(BroadcastHttpNotifier, {**base, **options}, tmp_path,
                                            name="speakers")  # fmt: skip
    return notifier


def test_every_broadcast_channel_reaches_loudspeakers_only(tmp_path: Path, sink: Sink) -> None:
    notifiers = [gateway_notifier(sink, tmp_path)]
    notifiers.append(build(BroadcastMqttNotifier, {}, tmp_path, name="speakers"))
    twilio = {"account_sid": ACCOUNT_SID, "auth_token": EnvStr(AUTH_TOKEN),
              "from_numbers": OFFICE_NUMBERS}  # fmt: skip
    notifiers += [build(cls, twilio, tmp_path, name="speakers")
                  for cls in (BroadcastCallNotifier, BroadcastSmsNotifier)]  # fmt: skip
    for notifier in notifiers:
        assert capabilities_of(notifier).broadcast, notifier
        assert notifier.address_for(loudspeaker("speakers", "HK-01")) == "HK-01"
        assert notifier.address_for(loudspeaker("other", "HK-01")) is None


def test_a_gateway_body_from_its_template_with_the_key_and_the_secret(
    tmp_path: Path, sink: Sink
) -> None:
    gateway = Gateway(sink)
    notifier = gateway_notifier(
        sink, tmp_path, headers={"X-Area": "qingxi"},
        body={"terminals": ["{address}"], "content": "{body}", "times": 2, "page": "{page}"},
    )  # fmt: skip
    result = notifier.send(broadcast("HK-01"))
    assert result.outcome is Outcome.DISPATCHED and result.detail == "HTTP 200"
    [request] = gateway.accepted
    assert request.json() == {"terminals": ["HK-01"], "content": SPOKEN, "times": 2, "page": 12}
    assert request.headers["authorization"] == f"Bearer {GATEWAY_KEY}"
    assert request.headers["idempotency-key"] == "inst:41:hekou:g1:speakers"
    assert request.headers["x-area"] == "qingxi"
    assert GATEWAY_KEY not in repr(notifier) and sink.url not in repr(notifier)


@pytest.mark.parametrize(
    ("answer", "options", "outcome", "words"),
    [
        ({"code": 0, "data": {"task": "T1"}}, {"success": {"path": "code", "equals": 0}},
         Outcome.DISPATCHED, "code=0"),
        ({"result": {"status": "queued"}},
         {"success": {"path": "result.status", "in": ["ok", "queued"]}}, Outcome.DISPATCHED,
         'result.status="queued"'),
        ({"data": [{"ok": True}]}, {"success": {"path": "data.0.ok", "equals": True}},
         Outcome.DISPATCHED, "data.0.ok=true"),
        ({"code": 1002, "msg": "终端离线"}, {"success": {"path": "code", "equals": 0}},
         Outcome.RETRYABLE, "the gateway refused the broadcast: code=1002"),
        ({"code": 1002, "msg": "终端离线"},
         {"success": {"path": "code", "equals": 0}, "refused": "permanent"}, Outcome.PERMANENT,
         "终端离线"),
        ({"msg": "ok"}, {"success": {"path": "code", "equals": 0}}, Outcome.UNKNOWN,
         "has no 'code'"),
        ({"msg": "ok"}, {"success": {"path": "code", "equals": 0}, "dedupes": True},
         Outcome.RETRYABLE, "a resend is safe"),
    ],
)  # fmt: skip
def test_the_gateways_answer_decides(
    tmp_path: Path, sink: Sink, answer: Any, options: dict[str, Any], outcome: Outcome, words: str
) -> None:
    sink.handlers["/api/tts"] = lambda request: Reply.of(answer)
    result = gateway_notifier(sink, tmp_path, **options).send(broadcast("HK-01"))
    assert result.outcome is outcome, result
    assert words in result.detail, result


def test_gateway_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="give `equals`"):
        BroadcastHttpNotifier.Options.model_validate(
            {"url": "https://gb.example.cn/tts", "success": {"path": "code"}}
        )
    with pytest.raises(ValidationError, match="not an HTTP header name"):
        BroadcastHttpNotifier.Options.model_validate(
            {"url": "https://gb.example.cn/tts", "headers": {"X Area": "1"}}
        )
    with pytest.raises(ValidationError, match="unknown placeholder"):
        BroadcastHttpNotifier.Options.model_validate(
            {"url": "https://gb.example.cn/tts", "body": {"text": "{village}"}}
        )
    options = BroadcastHttpNotifier.Options.model_validate(
        {"url": "https://gb.example.cn/tts", "concurrency": 16, "per_second": 20}
    )
    notifier = BroadcastHttpNotifier("gb", options, context(Path(".")))
    assert notifier.capabilities.concurrency == 16 and notifier.limits.notifier is not None


# -- MQTT -----------------------------------------------------------------------------------


@pytest.fixture
def broker() -> None:
    need_service("Mosquitto", port_open("127.0.0.1", 1883), "nothing listens on 127.0.0.1:1883")


def test_a_broadcast_is_published_below_the_topic_and_dispatched_on_the_puback(
    tmp_path: Path, broker: None
) -> None:
    speakers = Loudspeakers("floodwatch-test/mqtt-broadcast/" + tmp_path.name)
    notifier = build(BroadcastMqttNotifier, {"topic": speakers.prefix, "qos": 2}, tmp_path)
    try:
        result = notifier.send(broadcast("hekou/g1"))
        assert result.outcome is Outcome.DISPATCHED, result
        assert result.detail.startswith(f"published to {speakers.prefix}/hekou/g1")
        speakers.settle()
        [(topic, payload)] = speakers.messages
        assert topic == f"{speakers.prefix}/hekou/g1"
        assert payload == {"key": "inst:41:hekou:g1:speakers", "page": 12, "speaker": "hekou:g1",
                           "subject": "【立即转移】河口村一组", "text": SPOKEN,
                           "language": "zh-CN"}  # fmt: skip
    finally:
        notifier.close()
        speakers.close()


def test_a_broker_that_never_acknowledges_is_unknown_or_retryable_where_speakers_dedupe(
    tmp_path: Path, broker: None
) -> None:
    proxy = BrokerProxy()
    proxy.set("silent")
    notifiers = [build(BroadcastMqttNotifier, {"port": proxy.port, "timeout": "1s", **more},
                       tmp_path) for more in ({}, {"dedupes": True})]  # fmt: skip
    try:
        unknown, retryable = (n.send(broadcast("hekou")) for n in notifiers)
        assert unknown.outcome is Outcome.UNKNOWN and "may have gone out" in unknown.detail
        assert retryable.outcome is Outcome.RETRYABLE and "a resend is safe" in retryable.detail
    finally:
        for n in notifiers:
            n.close()
        proxy.stop()


def test_mqtt_topics_are_plain() -> None:
    for topic in ("floodwatch/#", "/floodwatch", "floodwatch/+/x"):
        with pytest.raises(ValidationError, match="without wildcards"):
            BroadcastMqttNotifier.Options.model_validate({"topic": topic})


# -- calls and SMS ----------------------------------------------------------------------------


def twilio_channel(cls: Any, fake: FakeTwilio, tmp_path: Path) -> Any:
    options = cls.Options.model_validate({"account_sid": ACCOUNT_SID,
                                          "auth_token": EnvStr(AUTH_TOKEN),
                                          "from_numbers": OFFICE_NUMBERS})  # fmt: skip
    ctx = PluginContext(base_dir=tmp_path, clock=context(tmp_path).clock,
                        public_url="https://fw.example.org", twilio_http=lambda: fake)  # fmt: skip
    return cls("speakers", options, ctx)


def test_a_loudspeakers_call_says_the_broadcast_twice_and_waits_for_no_key(tmp_path: Path) -> None:
    fake = FakeTwilio()
    result = twilio_channel(BroadcastCallNotifier, fake, tmp_path).send(broadcast("+8613900000901"))
    assert result.outcome is Outcome.DISPATCHED and result.provider_id
    [call] = fake.calls
    assert call.gather is None and call.status_callback is None
    assert call.says == ["【立即转移】河口村一组", SPOKEN] * 2
    assert 'voice="Polly.Zhiyu"' in call.twiml and "<Hangup />" in call.twiml


def test_a_loudspeakers_sms_has_no_reply_code(tmp_path: Path) -> None:
    fake = FakeTwilio()
    notifier = twilio_channel(BroadcastSmsNotifier, fake, tmp_path)
    result = notifier.send(broadcast("+8613900000901"))
    assert result.outcome is Outcome.DISPATCHED
    [sms] = fake.sms
    assert sms.body == f"【立即转移】河口村一组\n{SPOKEN}" and sms.status_callback is None
    assert sms.from_ == notifier.from_number("+8613900000901")  # always the same office number
