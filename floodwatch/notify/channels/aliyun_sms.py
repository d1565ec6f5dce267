"""SMS to mainland China numbers through Alibaba Cloud SMS (阿里云短信, the dysmsapi SendSms API),
with the official SDK ``alibabacloud-dysmsapi20170525`` (``pip install 'floodwatch[aliyun]'``).

A mainland SMS goes out only under an approved signature (签名) and template (模板): the wording
is fixed in the template and floodwatch fills its variables (``${station}``) from the page, by
`template_params` (variable name -> a text with ``{subject}``, ``{first_line}``... as for
webhooks). Aliyun takes a limited number of characters in one variable (35 for notification
templates when this was written; `param_max`): a longer value is cut with "…".

The SDK keeps its own HTTP sessions (it cannot be handed floodwatch's); tests point its
`endpoint` and `protocol` at a local server speaking the API's wire format.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome, RateLimits
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.common import (
    DEFAULT_TIMEOUT,
    Rule,
    Template,
    Timeout,
    fields,
    given,
    installed,
    judge,
    mainland_mobile,
    mask_phones,
    masked,
    national,
    read_secret,
    redact,
    require,
    secret_pair,
)
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person
from floodwatch.yamlsource import Secret

log = logging.getLogger(__name__)

R, P, U = Outcome.RETRYABLE, Outcome.PERMANENT, Outcome.UNKNOWN
_NUMBER_LIMIT = "this number has had as many messages as Aliyun's flow control allows"

ALIYUN_CODES: tuple[Rule, ...] = (
    # flow control for one number (签名+号码): 分钟级 waits a minute; an hour or a day is too
    # long for a flood page, which then goes to the person's next contact instead
    Rule("isv.BUSINESS_LIMIT_CONTROL", R, f"{_NUMBER_LIMIT} this minute", 60, contains="分钟"),
    Rule("isv.BUSINESS_LIMIT_CONTROL", P, f"{_NUMBER_LIMIT} this hour", contains="小时"),
    Rule("isv.BUSINESS_LIMIT_CONTROL", P, f"{_NUMBER_LIMIT} today", contains="天"),
    Rule("isv.BUSINESS_LIMIT_CONTROL", R, _NUMBER_LIMIT, 60),
    Rule("Throttling", R, "too many API calls a second", 1),
    Rule("Throttling.User", R, "too many API calls a second from this account", 1),
    Rule("Throttling.Api", R, "too many calls of SendSms a second", 1),
    Rule("ServiceUnavailable", R, "Aliyun SMS is unavailable for now"),
    Rule("isp.SYSTEM_ERROR", U, "Aliyun's system error: the message may have gone out"),
    Rule("InternalError", U, "Aliyun's internal error: the message may have gone out"),
    Rule("isv.MOBILE_NUMBER_ILLEGAL", P, "not a valid mobile number"),
    Rule("isv.MOBILE_COUNT_OVER_LIMIT", P, "too many numbers in one request"),
    Rule("isv.BLACK_KEY_CONTROL_LIMIT", P, "the number or the text is on a blacklist"),
    Rule(
        "isv.DOMESTIC_NUMBER_NOT_SUPPORTED",
        P,
        "an international template cannot reach a mainland number",
    ),
    Rule("isv.SMS_TEMPLATE_ILLEGAL", P, "the template code is wrong or not approved"),
    Rule("isv.TEMPLATE_MISSING_PARAMETERS", P, "template_params lacks a variable of the template"),
    Rule("isv.TEMPLATE_PARAMS_ILLEGAL", P, "a variable's value is not allowed by the template"),
    Rule("isv.PARAM_LENGTH_LIMIT", P, "a variable is longer than Aliyun allows (param_max)"),
    Rule("isv.PARAM_NOT_SUPPORT_URL", P, "a variable holds a URL, which Aliyun refuses"),
    Rule("isv.INVALID_JSON_PARAM", P, "TemplateParam is not valid JSON"),
    Rule("isv.INVALID_PARAMETERS", P, "a parameter is invalid"),
    Rule("isv.SMS_CONTENT_ILLEGAL", P, "the text holds words Aliyun refuses"),
    Rule("isv.SMS_SIGNATURE_ILLEGAL", P, "the signature (sign_name) is wrong or not approved"),
    Rule("isv.SMS_SIGN_ILLEGAL", P, "the signature may not be used"),
    Rule("isv.SIGN_STATE_ILLEGAL", P, "the signature is not usable (see its state in the console)"),
    Rule("isv.SMS_SIGNATURE_SCENE_ILLEGAL", P, "the signature's type does not fit the template"),
    Rule("isv.EXTEND_CODE_ERROR", P, "an extension code is used by several signatures"),
    Rule("isv.DENY_IP_RANGE", P, "this server's address is outside mainland China"),
    Rule("isv.DAY_LIMIT_CONTROL", P, "the account's daily limit set in the console is reached"),
    Rule("isv.MONTH_LIMIT_CONTROL", P, "the account's monthly limit set in the console is reached"),
    Rule("isv.OUT_OF_SERVICE", P, "the account is out of service (its balance is spent)"),
    Rule("isv.AMOUNT_NOT_ENOUGH", P, "the account's balance is not enough"),
    Rule("isv.PRODUCT_UN_SUBSCRIPT", P, "the account has not subscribed to Aliyun SMS"),
    Rule("isv.PRODUCT_UNSUBSCRIBE", P, "the account has not subscribed to this product"),
    Rule("isv.ACCOUNT_NOT_EXISTS", P, "no such account"),
    Rule("isv.ACCOUNT_ABNORMAL", P, "the account is abnormal (see the console)"),
    Rule(
        "isp.RAM_PERMISSION_DENY",
        P,
        "the access key's RAM user may not send SMS (grant AliyunDysmsFullAccess)",
    ),
    Rule("InvalidAccessKeyId.NotFound", P, "no such access key id"),
    Rule("InvalidAccessKeyId.Inactive", P, "the access key is disabled"),
    Rule("SignatureDoesNotMatch", P, "the access key secret is wrong"),
)
"""Aliyun's `Code` values (its SMS API error codes); "OK" is success."""

_SDK = "alibabacloud_dysmsapi20170525"
_NEEDS = {"channel": "aliyun_sms", "package": "alibabacloud-dysmsapi20170525", "extra": "aliyun"}


class AliyunSmsNotifier:
    """One SendSms per page. Code "OK": accepted (the delivery receipt comes later; BizId is
    the provider id). Other codes by ALIYUN_CODES; a code it does not know: permanent (Aliyun
    answered, and nothing was sent). A timeout after the request, or a 5xx: unknown."""

    capabilities = Capabilities(resend_safe=False, concurrency=4)

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        access_key_id: Secret | None = Field(default=None, description="AccessKey ID")
        access_key_id_file: str | None = Field(default=None, description="a file holding it")
        access_key_secret: Secret | None = Field(default=None, description="AccessKey Secret")
        access_key_secret_file: str | None = Field(default=None, description="a file holding it")
        sign_name: str = Field(min_length=1, description="the approved signature (签名)")
        template_code: str = Field(pattern=r"^SMS_\d+$", description="the approved template")
        template_params: dict[str, str] = Field(
            default_factory=dict,
            description="template variable -> its text, with {field} placeholders",
        )
        param_max: int = Field(default=35, ge=1, le=500, description="characters per variable")
        per_number: int = Field(
            default=1, ge=1, le=100, description="messages a minute Aliyun lets one number get"
        )
        region: str = Field(default="cn-hangzhou", min_length=1)
        endpoint: str = Field(default="dysmsapi.aliyuncs.com", pattern=r"^[A-Za-z0-9.:\[\]-]+$")
        protocol: Literal["https", "http"] = "https"
        timeout: Timeout = DEFAULT_TIMEOUT

        @field_validator("template_params")
        @classmethod
        def _templates(cls, value: dict[str, str]) -> dict[str, str]:
            for name, text in value.items():
                if not name.isidentifier():
                    raise ValueError(f"{name!r} is not a template variable name")
                Template(text)  # ValueError names an unknown placeholder
            return value

        @model_validator(mode="after")
        def _complete(self) -> AliyunSmsNotifier.Options:
            secret_pair(self, "access_key_id", required=True)
            secret_pair(self, "access_key_secret", required=True)
            installed(f"{_SDK}.client", **_NEEDS)
            return self

    def __init__(
        self, name: str, options: AliyunSmsNotifier.Options, context: PluginContext
    ) -> None:
        sdk = require(f"{_SDK}.client", **_NEEDS)
        sms_models = require(f"{_SDK}.models", **_NEEDS)
        api_models = require("alibabacloud_tea_openapi.models", **_NEEDS)
        self.name = name
        key_id = given(
            read_secret(
                options.access_key_id, options.access_key_id_file, "access_key_id", context
            ),
            "access_key_id",
        )
        key_secret = given(
            read_secret(
                options.access_key_secret,
                options.access_key_secret_file,
                "access_key_secret",
                context,
            ),
            "access_key_secret",
        )
        self._secrets = [key_id.get_secret_value(), key_secret.get_secret_value()]
        millis = int(options.timeout.total_seconds() * 1000)
        config = api_models.Config(
            access_key_id=key_id.get_secret_value(),
            access_key_secret=key_secret.get_secret_value(),
            endpoint=options.endpoint,
            protocol=options.protocol,
            region_id=options.region,
            read_timeout=millis,
            connect_timeout=millis,
        )
        self._client: Any = sdk.Client(config)
        self._request: Any = sms_models.SendSmsRequest
        self._sign_name = options.sign_name
        self._template_code = options.template_code
        self._params = {k: Template(v) for k, v in options.template_params.items()}
        self._param_max = options.param_max
        self._timeout = options.timeout.total_seconds()
        self.limits = RateLimits(target=Limit(rate=options.per_number, per=60))

    def address_for(self, person: Person) -> str | None:
        """The first mainland mobile number, without +86 (as SendSms takes it)."""
        mobile = mainland_mobile(person)
        return national(mobile) if mobile else None

    def template_param(self, message: Message) -> str:
        values = fields(message)
        params = {}
        for name, template in self._params.items():
            value = template.render(values)
            text = "" if value is None else str(value)
            if len(text) > self._param_max:
                text = text[: self._param_max - 1] + "…"
            params[name] = text
        return json.dumps(params, ensure_ascii=False)

    def send(self, message: Message) -> DeliveryResult:
        out_id = message.idempotency_key if len(message.idempotency_key) <= 64 else None
        request = self._request(
            phone_numbers=message.address,
            sign_name=self._sign_name,
            template_code=self._template_code,
            template_param=self.template_param(message),
            out_id=out_id,
        )
        log.debug("%s: SendSms to %s", self.name, masked(message.address))
        try:
            response = self._client.send_sms(request)
        except Exception as exc:  # the SDK raises its own zoo; none may escape a send
            return self._failure(exc)
        body = getattr(response, "body", None)
        code = str(getattr(body, "code", None) or "")
        said = str(getattr(body, "message", None) or "")
        biz_id = getattr(body, "biz_id", None)
        if code == "OK":
            return DeliveryResult(Outcome.ACCEPTED, "Aliyun OK", biz_id, "OK")
        if not code:
            return self._result(
                Outcome.UNKNOWN, "Aliyun answered without a Code: the message may have gone out"
            )
        return self._clean(
            judge(
                ALIYUN_CODES,
                code,
                said,
                provider="Aliyun",
                unmapped=Outcome.PERMANENT,
                provider_id=biz_id,
            )
        )

    def _failure(self, exc: Exception) -> DeliveryResult:
        """An SDK exception: Aliyun's refusal with a code, or an exchange that got no answer."""
        status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None)
        code = getattr(exc, "code", None)
        if isinstance(status, int) and isinstance(code, str) and code and code != "None":
            said = str(getattr(exc, "message", "") or "")
            mapped = judge(ALIYUN_CODES, code, said, provider="Aliyun", unmapped=Outcome.PERMANENT)
            if mapped.detail.endswith("(a code floodwatch does not know)"):
                if status >= 500:
                    detail = f"HTTP {status}: {mapped.detail}: the message may have gone out"
                    mapped = DeliveryResult(Outcome.UNKNOWN, detail, None, code)
                elif status == 429:
                    mapped = DeliveryResult(Outcome.RETRYABLE, mapped.detail, None, code)
            wait = getattr(exc, "retry_after", None)
            if mapped.outcome is Outcome.RETRYABLE and isinstance(wait, (int, float)) and wait > 0:
                mapped = DeliveryResult(mapped.outcome, mapped.detail, None, code, float(wait))
            return self._clean(mapped)
        chain = _chain(exc)
        names = {type(e).__name__ for e in chain}
        cause = chain[-1]
        if names & {"ConnectTimeout", "ConnectTimeoutError"}:
            return self._result(Outcome.RETRYABLE, f"could not connect within {self._timeout:g} s")
        if names & {"NewConnectionError", "NameResolutionError", "ConnectionRefusedError"}:
            return self._result(Outcome.RETRYABLE, f"cannot connect: {_strerror(cause)}")
        if names & {"ReadTimeout", "ReadTimeoutError", "TimeoutError"}:
            return self._result(
                Outcome.UNKNOWN,
                f"no answer within {self._timeout:g} s after "
                "the request was sent: the message may have gone out",
            )
        if names & {"SSLError", "SSLCertVerificationError"}:
            return self._result(Outcome.PERMANENT, f"TLS failed: {_strerror(cause)}")
        return self._result(
            Outcome.UNKNOWN,
            f"no usable answer ({type(cause).__name__}: {_strerror(cause)}): the message may "
            "have gone out",
        )

    def _result(self, outcome: Outcome, detail: str) -> DeliveryResult:
        return DeliveryResult(outcome, mask_phones(redact(detail, self._secrets)))

    def _clean(self, result: DeliveryResult) -> DeliveryResult:
        return DeliveryResult(
            result.outcome,
            mask_phones(redact(result.detail, self._secrets)),
            result.provider_id,
            result.provider_code,
            result.retry_after,
        )


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those inside it, outermost first: the SDK wraps the requests error
    (itself wrapping urllib3's, wrapping the socket's) in a RetryError in an
    UnretryableException."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        inner = getattr(current, "inner_exception", None)
        nxt = (
            inner if isinstance(inner, BaseException) else current.__cause__ or current.__context__
        )
        if nxt is None:
            args = [a for a in current.args if isinstance(a, BaseException)]
            reason = getattr(current, "reason", None)
            nxt = args[0] if args else reason if isinstance(reason, BaseException) else None
        current = nxt
    return chain


def _strerror(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    if "object at 0x" in text or "://" in text or "host=" in text:
        return type(exc).__name__  # urllib3's words name the host and may carry the URL
    return text[:200] or type(exc).__name__
