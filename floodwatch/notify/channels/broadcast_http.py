"""Village loudspeakers behind a text-to-speech gateway (an IP broadcast platform, 应急广播):
one JSON POST per loudspeaker, the text in it, the gateway speaks it.

The body is a template whose strings may hold the page's fields (``{address}``: the
loudspeaker's id at the gateway, ``{body}``: the text to say, ``{subject}``, ``{key}``...); a
string that is one field alone keeps the field's type. The gateway's answer is judged by HTTP
status first (as `webhook` does), then, when `success` is given, by a value in its JSON answer
(``{path: code, equals: 0}``): a 2xx whose answer says otherwise is the gateway refusing the
broadcast (a loudspeaker offline: `refused`, retryable by default). A broadcast that succeeds is
*dispatched*, never delivered: nobody confirms a loudspeaker.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome, RateLimits
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.common import (
    DEFAULT_TIMEOUT,
    HttpPoster,
    Timeout,
    compile_templates,
    fields,
    http_outcome,
    read_secret,
    render_templates,
    secret_pair,
)
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person
from floodwatch.yamlsource import Secret

log = logging.getLogger(__name__)

DEFAULT_BODY: dict[str, JsonValue] = {
    "terminal": "{address}", "text": "{body}", "title": "{subject}", "key": "{key}",
}  # fmt: skip
"""The loudspeaker's id, the text to say, its title and the page's key."""

_MISSING = object()
_HEADER = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"


class Success(BaseModel):
    """A value in the gateway's JSON answer that says it took the broadcast: at `path`
    (dotted keys, list indexes as numbers: ``code``, ``result.status``, ``data.0.ok``), equal
    to `equals`, or one of `in`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    path: str = Field(min_length=1, max_length=200, pattern=r"^[^.\s]+(\.[^.\s]+)*$")
    equals: JsonValue = None
    one_of: list[JsonValue] | None = Field(default=None, alias="in", min_length=1)

    @model_validator(mode="after")
    def _one_test(self) -> Success:
        given = {"equals"} & self.model_fields_set
        if bool(given) == (self.one_of is not None):
            raise ValueError("give `equals` (one value) or `in` (a list of values), one of them")
        return self

    def judge(self, answer: Any) -> tuple[bool, Any]:
        """Whether the answer says success, and the value found (_MISSING when there is none)."""
        value = answer
        for part in self.path.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return False, _MISSING
        if self.one_of is not None:
            return value in self.one_of, value
        return value == self.equals, value


class BroadcastHttpNotifier:
    """One POST per loudspeaker. 2xx (and `success`): dispatched. 408, 425, 429, 503:
    retryable after the gateway's Retry-After. Other 5xx, a timeout, an answer that cannot be
    read: unknown (the gateway may have spoken), retryable where `dedupes` says the gateway
    ignores a key it has seen. Other 4xx and 3xx: permanent."""

    capabilities = Capabilities(broadcast=True, resend_safe=False, concurrency=8)
    limits = RateLimits()

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        url: str = Field(
            pattern=r"^https?://", repr=False,
            description="the gateway's broadcast endpoint; a token in it is written as ${VARIABLE}",
        )  # fmt: skip
        headers: dict[str, str] = Field(
            default_factory=dict, description="more headers for every request (no secrets)"
        )
        secret: Secret | None = Field(default=None, description="the gateway's key or token")
        secret_file: str | None = Field(default=None, description="a file holding it")
        secret_header: str = Field(
            default="Authorization", pattern=_HEADER, description="the header the secret goes in"
        )
        secret_scheme: str | None = Field(
            default="Bearer", description="written before the secret in its header (null: none)"
        )
        body: JsonValue = Field(
            default=None,
            description="the JSON body, whose strings may hold {field} placeholders",
        )
        success: Success | None = Field(
            default=None, description="a value in the JSON answer that says it took the broadcast"
        )
        refused: Literal["retryable", "permanent"] = Field(
            default="retryable", description="the outcome of a 2xx whose answer is not `success`"
        )
        timeout: Timeout = DEFAULT_TIMEOUT
        concurrency: int = Field(default=8, ge=1, le=64, description="broadcasts at once")
        per_second: int | None = Field(
            default=None, ge=1, le=10_000, description="what the gateway allows a second"
        )
        dedupes: bool = Field(
            default=False, description="the gateway ignores an Idempotency-Key it has seen"
        )

        @field_validator("body")
        @classmethod
        def _placeholders_known(cls, value: JsonValue) -> JsonValue:
            compile_templates(value)  # ValueError names an unknown placeholder
            return value

        @field_validator("headers")
        @classmethod
        def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
            for name in value:
                if not re.match(_HEADER, name):
                    raise ValueError(f"not an HTTP header name: {name!r}")
            return value

        @model_validator(mode="after")
        def _secret_once(self) -> BroadcastHttpNotifier.Options:
            secret_pair(self, "secret", required=False)
            return self

    def __init__(
        self, name: str, options: BroadcastHttpNotifier.Options, context: PluginContext
    ) -> None:
        self.name = name
        self._url = options.url
        self._clock = context.clock
        self._headers = dict(options.headers)
        self._body: Any = compile_templates(DEFAULT_BODY if options.body is None else options.body)
        self._secret = read_secret(options.secret, options.secret_file, "secret", context)
        self._secret_header = options.secret_header
        self._scheme = options.secret_scheme
        self._success = options.success
        self._refused = Outcome.PERMANENT if options.refused == "permanent" else Outcome.RETRYABLE
        self.capabilities = Capabilities(
            broadcast=True, resend_safe=options.dedupes, concurrency=options.concurrency
        )
        if options.per_second is not None:
            self.limits = RateLimits(notifier=Limit(options.per_second, 1.0))
        secrets = [self._secret.get_secret_value()] if self._secret else []
        self._poster = HttpPoster(options.timeout, secrets)

    def __repr__(self) -> str:  # the URL and the secret stay out of logs
        return f"BroadcastHttpNotifier(name={self.name!r})"

    def address_for(self, person: Person) -> str | None:
        """A loudspeaker's id at this gateway (a village's loudspeakers carry it; a roster person
        has none unless their `chat` names this channel)."""
        return person.chat.get(self.name)

    def send(self, message: Message) -> DeliveryResult:
        raw = json.dumps(
            render_templates(self._body, fields(message)), ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")  # fmt: skip
        now = self._clock.now()
        headers = {
            **self._headers,
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.idempotency_key,
        }
        if self._secret is not None:
            secret = self._secret.get_secret_value()
            headers[self._secret_header] = f"{self._scheme} {secret}" if self._scheme else secret
        safe = self.capabilities.resend_safe
        answer = self._poster.post(self._url, raw, headers, resend_safe=safe)
        if isinstance(answer, DeliveryResult):
            return answer
        said = " ".join(answer.body[:200].decode("utf-8", "replace").split())
        judged = http_outcome(answer, provider="the gateway", now=now, resend_safe=safe)
        if judged is not None:
            detail = f"{judged.detail}: {said}" if said else judged.detail
            return self._poster.clean(
                DeliveryResult(
                    judged.outcome, detail, None, judged.provider_code, judged.retry_after
                )
            )
        status = str(answer.status)
        if self._success is None:
            return DeliveryResult(Outcome.DISPATCHED, f"HTTP {status}", provider_code=status)
        try:
            parsed = json.loads(answer.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._poster.ambiguous(
                f"the gateway answered HTTP {status} with something that is not JSON "
                f"({said[:80] or 'empty'}), so whether it took the broadcast is not known",
                resend_safe=safe,
            )
        ok, value = self._success.judge(parsed)
        path = self._success.path
        if value is _MISSING:
            return self._poster.ambiguous(
                f"the gateway's answer has no {path!r}: {said}", resend_safe=safe
            )
        if ok:
            return DeliveryResult(
                Outcome.DISPATCHED, f"HTTP {status}, {path}={json.dumps(value)}",
                provider_code=str(value),
            )  # fmt: skip
        return self._poster.clean(
            DeliveryResult(
                self._refused, f"the gateway refused the broadcast: {path}={json.dumps(value)}: "
                f"{said}", provider_code=str(value),
            )
        )  # fmt: skip
