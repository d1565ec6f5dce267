"""Aliyun SMS through the official SDK, pointed at a local endpoint that checks the request's
ACS3-HMAC-SHA256 signature, action, number, signature name, template and variables the way
the SMS service does; every code of the table; addressing; the options."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from floodwatch.errors import FloodwatchError
from floodwatch.notify.base import Outcome, capabilities_of, limits_of
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.aliyun_sms import ALIYUN_CODES, AliyunSmsNotifier
from floodwatch.notify.channels.common import Rule
from floodwatch.yamlsource import EnvStr

from .harness_channels import AliyunSmsEndpoint, Reply, Sink, build, context, officer, page

KEY_ID, KEY_SECRET = "LTAI5tTestKeyId0001", "TestKeySecret0123456789abcdef"
VARIABLES = {"station": "{subject}", "detail": "{first_line}", "code": "{reply_code}"}


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def endpoint(sink: Sink) -> AliyunSmsEndpoint:
    return AliyunSmsEndpoint(
        sink, KEY_ID, KEY_SECRET, "青溪镇防汛办", "SMS_465800001", tuple(VARIABLES)
    )


def sms(sink: Sink, tmp_path: Path, **options: Any) -> AliyunSmsNotifier:
    opts = {
        "access_key_id": EnvStr(KEY_ID),
        "access_key_secret": EnvStr(KEY_SECRET),
        "sign_name": "青溪镇防汛办",
        "template_code": "SMS_465800001",
        "template_params": VARIABLES,
        "endpoint": f"127.0.0.1:{sink.port}",
        "protocol": "http",
        "timeout": "2s",
    }
    notifier: AliyunSmsNotifier = build(AliyunSmsNotifier, opts | options, tmp_path)
    return notifier


def test_sendsms_carries_the_page_in_the_template_and_is_signed(
    sink: Sink, endpoint: AliyunSmsEndpoint, tmp_path: Path
) -> None:
    result = sms(sink, tmp_path).send(page("13800000001"))
    assert result.outcome is Outcome.ACCEPTED, result
    assert (result.provider_code, result.provider_id) == ("OK", "9006197469364984^1")
    (request,) = sink.requests
    assert request.method == "POST"
    assert request.headers["x-acs-action"] == "SendSms"
    assert request.headers["x-acs-version"] == "2017-05-25"
    assert request.headers["authorization"].startswith(
        f"ACS3-HMAC-SHA256 Credential={KEY_ID},SignedHeaders="
    )
    q = request.query
    assert (q["PhoneNumbers"], q["SignName"], q["TemplateCode"], q["OutId"]) == (
        "13800000001",
        "青溪镇防汛办",
        "SMS_465800001",
        "page-7-a1b2c3",
    )
    assert json.loads(q["TemplateParam"]) == {
        "station": "【橙色预警】青溪水库 水位 152.30 m",
        "detail": "青溪水库水位超警戒水位 0.80 米，仍在上涨。",
        "code": "3",
    }
    assert endpoint.sent[0]["to"] == "13800000001"


def test_a_wrong_secret_fails_the_endpoints_signature_check(
    sink: Sink, endpoint: AliyunSmsEndpoint, tmp_path: Path
) -> None:
    result = sms(sink, tmp_path, access_key_secret=EnvStr("not-the-secret")).send(
        page("13800000001")
    )
    assert result.outcome is Outcome.PERMANENT and result.provider_code == "SignatureDoesNotMatch"
    assert "not-the-secret" not in result.detail and endpoint.sent == []


def test_an_unknown_access_key_is_permanent(
    sink: Sink, endpoint: AliyunSmsEndpoint, tmp_path: Path
) -> None:
    result = sms(sink, tmp_path, access_key_id=EnvStr("LTAIunknown")).send(page("13800000001"))
    assert (result.outcome, result.provider_code) == (
        Outcome.PERMANENT,
        "InvalidAccessKeyId.NotFound",
    )


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"sign_name": "别的签名"}, "isv.SMS_SIGNATURE_ILLEGAL"),
        ({"template_code": "SMS_1"}, "isv.SMS_TEMPLATE_ILLEGAL"),
        ({"template_params": {"station": "{subject}"}}, "isv.TEMPLATE_MISSING_PARAMETERS"),
        ({"param_max": 100}, "isv.PARAM_LENGTH_LIMIT"),
    ],
)
def test_the_endpoint_refuses_what_the_template_does_not_allow(
    sink: Sink, endpoint: AliyunSmsEndpoint, tmp_path: Path, options: dict[str, Any], code: str
) -> None:
    result = sms(sink, tmp_path, **options).send(page("13800000001", body="长" * 60 + "\n第二行"))
    assert (result.outcome, result.provider_code) == (Outcome.PERMANENT, code), result


def test_a_number_the_endpoint_refuses_is_masked_in_the_detail(
    sink: Sink, endpoint: AliyunSmsEndpoint, tmp_path: Path
) -> None:
    sink.handlers["/"] = lambda r: Reply.of(
        {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号 13800000001"}
    )
    result = sms(sink, tmp_path).send(page("13800000001"))
    assert result.outcome is Outcome.PERMANENT
    assert "13800000001" not in result.detail and "0001" in result.detail


# -- the table -------------------------------------------------------------------------------

CASES = [pytest.param(rule, id=f"{rule.code}-{rule.contains or ''}") for rule in ALIYUN_CODES]


def answer(code: str, message: str, status: int = 200) -> Any:
    body = {"Code": code, "Message": message, "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}
    return lambda request: Reply.of(body, status)


@pytest.mark.parametrize("rule", CASES)
def test_every_code_in_the_table_becomes_its_outcome(
    sink: Sink, tmp_path: Path, rule: Rule
) -> None:
    """SendSms answers its own refusals with HTTP 200 and a Code."""
    said = f"触发{rule.contains}级流控Permits:1" if rule.contains else "refused"
    sink.handlers["/"] = answer(rule.code, said)
    result = sms(sink, tmp_path).send(page("13800000001"))
    assert (result.outcome, result.retry_after) == (rule.outcome, rule.retry_after), result
    assert result.provider_code == rule.code and rule.meaning in result.detail


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling.User", 400),
        ("SignatureDoesNotMatch", 400),
        ("InvalidAccessKeyId.NotFound", 404),
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
        ("isp.RAM_PERMISSION_DENY", 403),
    ],
)
def test_the_gateways_http_refusals_map_by_the_same_table(
    sink: Sink, tmp_path: Path, code: str, status: int
) -> None:
    """The API gateway refuses with an HTTP error status; the SDK raises; the table decides."""
    sink.handlers["/"] = answer(code, "refused", status)
    result = sms(sink, tmp_path).send(page("13800000001"))
    rule = next(r for r in ALIYUN_CODES if r.code == code)
    assert (result.outcome, result.provider_code) == (rule.outcome, code), result


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.PERMANENT),
        (400, Outcome.PERMANENT),
        (429, Outcome.RETRYABLE),
        (500, Outcome.UNKNOWN),
        (502, Outcome.UNKNOWN),
    ],
)
def test_a_code_the_table_does_not_know(
    sink: Sink, tmp_path: Path, status: int, outcome: Outcome
) -> None:
    sink.handlers["/"] = answer("isv.SOMETHING_NEW", "新错误", status)
    result = sms(sink, tmp_path).send(page("13800000001"))
    assert result.outcome is outcome and "does not know" in result.detail, result


def test_flow_control_waits_a_minute_but_an_hour_or_a_day_goes_to_the_next_contact(
    sink: Sink, tmp_path: Path
) -> None:
    seen = []
    for message, outcome, wait in (
        ("触发分钟级流控Permits:1", Outcome.RETRYABLE, 60),
        ("触发小时级流控Permits:5", Outcome.PERMANENT, None),
        ("触发天级流控Permits:10", Outcome.PERMANENT, None),
        ("business limit", Outcome.RETRYABLE, 60),
    ):
        sink.handlers["/"] = answer("isv.BUSINESS_LIMIT_CONTROL", message)
        result = sms(sink, tmp_path).send(page("13800000001"))
        seen.append((result.outcome, result.retry_after))
        assert (result.outcome, result.retry_after) == (outcome, wait), result
    assert len(seen) == 4


def test_throttled_by_the_endpoint_is_retryable_and_the_retry_goes_out(
    sink: Sink, endpoint: AliyunSmsEndpoint, tmp_path: Path
) -> None:
    notifier = sms(sink, tmp_path)
    endpoint.mode = "throttled"
    assert notifier.send(page("13800000001")).outcome is Outcome.RETRYABLE
    endpoint.mode = "ok"
    assert notifier.send(page("13800000001")).outcome is Outcome.ACCEPTED
    assert len(endpoint.sent) == 1 and len(endpoint.nonces) == 2  # a fresh nonce each time


def test_an_endpoint_that_is_down_is_retryable(tmp_path: Path) -> None:
    gone = Sink()
    gone.stop()
    result = sms(gone, tmp_path).send(page("13800000001"))
    assert result.outcome is Outcome.RETRYABLE
    assert result.detail == "cannot connect: Connection refused"


def test_an_answer_that_is_not_json_is_unknown(
    sink: Sink, endpoint: AliyunSmsEndpoint, tmp_path: Path
) -> None:
    endpoint.mode = "proxy"
    result = sms(sink, tmp_path).send(page("13800000001"))
    assert result.outcome is Outcome.UNKNOWN and "may have gone out" in result.detail
    assert KEY_SECRET not in result.detail


# -- addressing, templates, declarations ------------------------------------------------------


def test_address_for_is_the_first_mainland_mobile_without_86(tmp_path: Path) -> None:
    notifier = build(
        AliyunSmsNotifier,
        {
            "access_key_id": EnvStr("a"),
            "access_key_secret": EnvStr("b"),
            "sign_name": "s",
            "template_code": "SMS_1",
        },
        tmp_path,
    )
    both = officer(phones=("+85291234567", "+8613900000002", "+8613800000001"))
    assert notifier.address_for(both) == "13900000002"
    assert notifier.address_for(officer(phones=("+861087654321",))) is None  # a landline
    assert notifier.address_for(officer(phones=("+85291234567",))) is None
    assert notifier.address_for(officer(email="x@example.cn")) is None


def test_template_params_fill_placeholders_and_cut_long_values(sink: Sink, tmp_path: Path) -> None:
    notifier = sms(
        sink,
        tmp_path,
        template_params={"a": "站点：{subject}", "b": "{alert}", "c": "{{code}}"},
        param_max=10,
    )
    params = json.loads(notifier.template_param(page("13800000001", alert_id=None)))
    assert params == {"a": "站点：【橙色预警】…", "b": "", "c": "{code}"}  # 10 characters


def test_capabilities_and_limits(sink: Sink, tmp_path: Path) -> None:
    caps = capabilities_of(AliyunSmsNotifier)
    assert not caps.resend_safe and not caps.acknowledges
    assert limits_of(sms(sink, tmp_path)).target == Limit(rate=1, per=60)
    assert limits_of(sms(sink, tmp_path, per_number=5)).target == Limit(rate=5, per=60)


BASE = {"sign_name": "青溪镇防汛办", "template_code": "SMS_465800001"}
KEYS = {"access_key_id": EnvStr(KEY_ID), "access_key_secret": EnvStr(KEY_SECRET)}


@pytest.mark.parametrize("option", ["access_key_id", "access_key_secret"])
def test_an_access_key_written_in_the_config_is_refused(option: str) -> None:
    with pytest.raises(ValidationError, match="secrets come from the environment"):
        AliyunSmsNotifier.Options.model_validate(BASE | KEYS | {option: "written"})
    parsed = AliyunSmsNotifier.Options.model_validate(BASE | KEYS)
    assert KEY_SECRET not in repr(parsed) and KEY_ID not in repr(parsed)


def test_access_keys_from_files_sign(
    sink: Sink, endpoint: AliyunSmsEndpoint, tmp_path: Path
) -> None:
    (tmp_path / "id").write_text(KEY_ID + "\n", encoding="utf-8")
    (tmp_path / "secret").write_text(KEY_SECRET + "\n", encoding="utf-8")
    notifier = build(
        AliyunSmsNotifier,
        BASE
        | {
            "access_key_id_file": "id",
            "access_key_secret_file": "secret",
            "template_params": VARIABLES,
            "endpoint": f"127.0.0.1:{sink.port}",
            "protocol": "http",
        },
        tmp_path,
    )
    assert notifier.send(page("13800000001")).outcome is Outcome.ACCEPTED


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (BASE, "access_key_id is required"),
        (BASE | KEYS | {"template_code": "465800001"}, "pattern"),
        (BASE | KEYS | {"template_params": {"a-b": "{subject}"}}, "not a template variable"),
        (BASE | KEYS | {"template_params": {"a": "{station}"}}, r"unknown placeholder \{station\}"),
        (BASE | KEYS | {"protocol": "ftp"}, "'https' or 'http'"),
        (BASE | KEYS | {"endpoint": "http://dysmsapi.aliyuncs.com/"}, "pattern"),
        (BASE | KEYS | {"sign_name": ""}, "at least 1 character"),
    ],
)
def test_options_refuse_what_cannot_work(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        AliyunSmsNotifier.Options.model_validate(options)


def test_without_the_sdk_the_config_names_the_extra_and_plugins_still_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from floodwatch.plugins import Registry

    for name in [m for m in sys.modules if m.startswith("alibabacloud_dysmsapi20170525")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "alibabacloud_dysmsapi20170525", None)  # not installed
    assert "aliyun_sms" in Registry.from_entry_points().notifiers
    with pytest.raises(ValidationError, match=r"pip install 'floodwatch\[aliyun\]'"):
        AliyunSmsNotifier.Options.model_validate(BASE | KEYS)
    options = AliyunSmsNotifier.Options.model_construct(**(BASE | KEYS))
    with pytest.raises(
        FloodwatchError, match=r"alibabacloud-dysmsapi20170525.*floodwatch\[aliyun\]"
    ):
        AliyunSmsNotifier("sms", options, context(tmp_path))


def test_a_silent_endpoint_is_unknown_within_the_timeout(
    sink: Sink, endpoint: AliyunSmsEndpoint, tmp_path: Path
) -> None:
    import time

    endpoint.mode = "stall"
    started = time.monotonic()
    result = sms(sink, tmp_path, timeout="1s").send(page("13800000001"))
    assert time.monotonic() - started < 3
    assert result.outcome is Outcome.UNKNOWN
    assert result.detail == (
        "no answer within 1 s after the request was sent: the message may have gone out"
    )
