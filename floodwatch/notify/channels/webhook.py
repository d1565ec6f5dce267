"""POST each page as JSON to a URL: a body made from a template, signed when a secret is set.

Headers: ``Idempotency-Key`` (the page's key: the same page resent carries the same key),
``X-Floodwatch-Timestamp`` (seconds since 1970 by floodwatch's clock) and, with a `secret`,
``X-Floodwatch-Signature: sha256=<hex HMAC-SHA256 of the raw body>``. The signature covers the
body only; the default body carries the key, so a receiver that deduplicates by key also
refuses a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome, RateLimits
from floodwatch.notify.channels.common import (
    DEFAULT_TIMEOUT,
    FIELDS,
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

DEFAULT_BODY: dict[str, JsonValue] = {f: f"{{{f}}}" for f in FIELDS if f != "first_line"}
"""Every field of the page, each under its own name (`page` and `alert` as numbers)."""


class WebhookNotifier:
    """A JSON POST per page. 2xx: accepted. 408, 425, 429, 503: retryable (after the
    receiver's Retry-After). Other 5xx and a timeout: unknown, since the receiver may have
    acted on the page; retryable where `dedupes` says it deduplicates by Idempotency-Key
    (a resend is then safe). Other 4xx and 3xx: permanent."""

    capabilities = Capabilities(resend_safe=False, concurrency=8)
    limits = RateLimits()

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        url: str = Field(
            pattern=r"^https?://",
            repr=False,
            description="where pages are POSTed; a token in it is written as ${VARIABLE}",
        )
        body: JsonValue = Field(
            default=None,
            description="the JSON body, whose strings may hold {field} placeholders "
            "(default: every field)",
        )
        secret: Secret | None = Field(default=None, description="HMAC-SHA256 signing key")
        secret_file: str | None = Field(default=None, description="a file holding the key")
        timeout: Timeout = DEFAULT_TIMEOUT
        dedupes: bool = Field(
            default=False,
            description="the receiver deduplicates by Idempotency-Key, so a resend is safe",
        )
        concurrency: int = Field(default=8, ge=1, le=64, description="POSTs at once")

        @field_validator("body")
        @classmethod
        def _placeholders_known(cls, value: JsonValue) -> JsonValue:
            compile_templates(value)  # ValueError names an unknown placeholder
            return value

        @model_validator(mode="after")
        def _secret_once(self) -> WebhookNotifier.Options:
            secret_pair(self, "secret", required=False)
            return self

    def __init__(self, name: str, options: WebhookNotifier.Options, context: PluginContext) -> None:
        self.name = name
        self._url = options.url
        self._clock = context.clock
        self._body: Any = compile_templates(DEFAULT_BODY if options.body is None else options.body)
        self._secret = read_secret(options.secret, options.secret_file, "secret", context)
        self.capabilities = Capabilities(
            resend_safe=options.dedupes, concurrency=options.concurrency
        )
        secrets = [self._secret.get_secret_value()] if self._secret else []
        self._poster = HttpPoster(options.timeout, secrets)

    def address_for(self, person: Person) -> str | None:
        return person.id

    def send(self, message: Message) -> DeliveryResult:
        raw = json.dumps(
            render_templates(self._body, fields(message)),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        now = self._clock.now()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": quote(message.idempotency_key, safe="-_.~:/+=@"),
            "X-Floodwatch-Timestamp": str(int(now.timestamp())),
        }
        if self._secret is not None:
            key = self._secret.get_secret_value().encode("utf-8")
            headers["X-Floodwatch-Signature"] = (
                "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
            )
        safe = self.capabilities.resend_safe
        answer = self._poster.post(self._url, raw, headers, resend_safe=safe)
        if isinstance(answer, DeliveryResult):
            return answer
        judged = http_outcome(answer, provider="the receiver", now=now, resend_safe=safe)
        if judged is None:
            return DeliveryResult(
                Outcome.ACCEPTED, f"HTTP {answer.status}", provider_code=str(answer.status)
            )
        said = " ".join(answer.body[:200].decode("utf-8", "replace").split())
        if said:
            judged = DeliveryResult(
                judged.outcome,
                f"{judged.detail}: {said}",
                None,
                judged.provider_code,
                judged.retry_after,
            )
        return self._poster.clean(judged)
